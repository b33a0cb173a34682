"""The command reference (docs/commands.md), generated from the CLI itself: every command's
``--help`` as click prints it at 80 columns. tests/test_docs.py fails when the file and the
CLI differ; regenerate it from tests/ with

    python -m support.reference > ../docs/commands.md
"""

from __future__ import annotations

import click
from click.testing import CliRunner

from regsync.cli import cli

HEADER = """# regsync command reference

Generated from the CLI itself (`cd tests && python -m support.reference > ../docs/commands.md`);
`tests/test_docs.py` fails when it no longer matches `--help`. The README explains each command
with examples; this is what `regsync COMMAND --help` prints.
"""


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def reference() -> str:
    parts = [HEADER]
    for path in _commands(cli):
        result = CliRunner().invoke(cli, [*path, "--help"], prog_name="regsync", terminal_width=80)
        assert result.exit_code == 0, result.output
        title = " ".join(("regsync", *path))
        parts.append(f"## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
