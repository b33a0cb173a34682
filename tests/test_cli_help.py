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
