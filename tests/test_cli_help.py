"""What people read first: `--help` with examples laid out as written, and a bare command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from regsync.cli import cli

COMMANDS = [
    [], ["sync"], ["watch"], ["watch", "add"], ["watch", "remove"], ["watch", "list"], ["history"],
    ["show"], ["diff"], ["changes"], ["reclassify"], ["status"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "regsync")
def test_every_help_has_examples_one_per_line(command):
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="regsync", terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    start = lines.index("  Example:")
    examples = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        examples.append(line)
    assert examples, result.output
    # click's \b keeps each example on its own line, never rewrapped into the next one.
    assert all(line.startswith("      regsync ") for line in examples), examples


def test_the_top_level_example_is_not_rewrapped():
    result = CliRunner().invoke(cli, ["--help"], prog_name="regsync", terminal_width=80)
    assert "      regsync sync                    # fetch NCT07240987 (the default) into ./regsync.db\n" in result.output
    assert "      regsync watch add NCT00763412   # track more studies\n" in result.output


@pytest.mark.parametrize("args", [[], ["watch"]], ids=["regsync", "regsync watch"])
def test_a_bare_command_prints_its_help_and_exits_0(args):
    result = CliRunner().invoke(cli, args, prog_name="regsync")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: regsync {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND [ARGS]...")
    assert result.stderr == ""


# -- issue 22 item 10: summaries that fit, every exit code, wording -------------------------------


def test_command_summaries_fit_regsync_help_uncut():
    result = CliRunner().invoke(cli, ["--help"], prog_name="regsync", terminal_width=80)
    commands = result.output.split("Commands:\n", 1)[1].splitlines()
    assert len(commands) == len(cli.commands)
    for line in commands:
        assert len(line) <= 80, line
        assert not line.endswith("..."), f"cut mid-sentence: {line}"
        assert line.endswith("."), f"a summary is one sentence: {line}"


def test_sync_help_lists_every_exit_code_the_readme_lists():
    import re
    from pathlib import Path

    text = CliRunner().invoke(cli, ["sync", "--help"], prog_name="regsync", terminal_width=80).output
    block = text.split("  Exit codes:\n\n", 1)[1].split("\n\n", 1)[0]
    listed = [int(line.split()[0]) for line in block.splitlines()]
    assert listed == [0, 1, 2, 3, 4, 5, 130, 143]
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)] == listed


def test_mail_from_default_reads_as_an_address():
    text = CliRunner().invoke(cli, ["sync", "--help"], prog_name="regsync", terminal_width=80).output
    assert "[default: regsync@<this host's name>]" in " ".join(text.split())


def test_counts_agree_with_their_nouns():
    from datetime import date

    from regsync.obligations import Applicability, Obligation, State
    from regsync.text import plural, signed

    assert [plural(n, "registry version") for n in (0, 1, 2)] == [
        "0 registry versions", "1 registry version", "2 registry versions"]
    assert plural(1, "study", "studies") == "1 study" and plural(3, "query watch", "query watches") == "3 query watches"
    assert [signed(n, "day") for n in (-1, 1, 184)] == ["-1 day", "+1 day", "+184 days"]
    late = Obligation(Applicability.ACT, "", State.OVERDUE, date(2027, 1, 1), days=1)
    assert late.state_words() == "overdue 1 day"
