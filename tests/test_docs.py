"""The README cannot drift from the CLI: every command and option is documented, and CI runs
exactly the README's install and test commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from regsync.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        yield full, command
        if isinstance(command, click.Group):
            yield from _commands(command, full + " ")


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_every_command_is_documented(name):
    if " " in name:  # watch add -> "watch add" or "watch add|remove|list"
        group, sub = name.split(" ")
        assert re.search(rf"regsync {group} (\S*\b{sub}\b)", README), name
    else:
        assert f"regsync {name}" in README, name


@pytest.mark.parametrize(
    "name, option",
    [
        (name, opt)
        for name, command in [("", cli), *COMMANDS]
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt not in ("--help", "--version")
    ],
)
def test_every_option_is_documented(name, option):
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", README), f"{name} {option}"


def test_every_environment_variable_is_documented():
    for _, command in [("", cli), *COMMANDS]:
        for param in command.params:
            if getattr(param, "envvar", None):
                assert param.envvar in README, param.envvar


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"```sh\n(python3 -m venv .*?)\n```", README).group(1)
    install_part = install.split(" && .venv/bin/regsync")[0]
    assert install_part in ci
    test_command = re.search(r"## Tests\n.*?```sh\n(.*?)\n```", README, re.S).group(1)
    assert ci.rstrip().splitlines()[-1] == test_command


def test_exit_codes_in_readme_match_the_errors():
    from regsync import errors

    for cls in (errors.UsageError, errors.LockBusy, errors.StoreError, errors.FetchError):
        assert f"| {cls.exit_code} |" in README


def test_readme_rule_table_is_the_rule_table():
    """The README's rules are generated from regsync/rules.py: a misspelt, missing or stale
    rule, severity or threshold fails here (regenerate with `python -m regsync.rules`)."""
    from regsync import rules

    block = re.search(r"<!-- rules:begin -->\n(.*?)\n<!-- rules:end -->", README, re.S)
    assert block, "README lacks the <!-- rules:begin --> ... <!-- rules:end --> block"
    assert block.group(1) == rules.markdown()
    for rule_id in rules.RULES:
        assert f"| `{rule_id}` |" in block.group(1)


def test_python_example_in_readme_runs(tmp_path, monkeypatch, capsys):
    """The README's "Use from Python" example is real code: run it, the registry mocked at
    its real address."""
    import json

    import responses

    example = re.search(r"## Use from Python\n.*?```python\n(.*?)\n```", README, re.S)
    assert example, "README lacks its Use from Python example"
    record = json.loads((ROOT / "tests" / "fixtures" / "NCT07240987.json").read_text())
    monkeypatch.chdir(tmp_path)
    with responses.RequestsMock() as mock:
        api = "https://clinicaltrials.gov/api/v2"
        mock.get(f"{api}/version", json={"apiVersion": "2.0.5", "dataTimestamp": "2026-09-04T09:00:06"})
        mock.get(f"{api}/studies/NCT07240987", json=record)
        exec(compile(example.group(1), "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == [
        "ok 1 new []",
        "1 2025-12-18 2025-12-24 NOT_YET_RECRUITING",
        "minor results.first_posted Results first posted",
    ]


# -- issue 22 item 14: a command reference from the CLI, and a changelog --------------------------


def test_the_command_reference_is_the_cli_help():
    """docs/commands.md is every command's --help; regenerate it from tests/ with
    `python -m support.reference > ../docs/commands.md`."""
    from support.reference import reference

    assert (ROOT / "docs" / "commands.md").read_text() == reference()
    assert "docs/commands.md" in README


def test_the_changelog_keeps_a_changelog():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n") and "keepachangelog.com" in changelog
    releases = re.findall(r"^## \[(.+?)\]", changelog, re.M)
    assert releases[0] == "Unreleased"
    from regsync import __version__

    assert __version__ in releases  # the version this tree calls itself is recorded
    for section in re.findall(r"^### (.+)$", changelog, re.M):
        assert section in ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"), section
    for release in releases:  # each release heading links to its changes
        assert re.search(rf"^\[{re.escape(release)}\]: https://", changelog, re.M), release
    assert "CHANGELOG.md" in README
