"""Running the CLI in-process with click's CliRunner (fast; its sleeps are recorded through
``regsync.cli.Clocks``, see conftest). For the installed script as a real process, see
support.procs."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from regsync.cli import Clocks, cli
from support.mocks import API


class Cli:
    """``regsync --db DB --api-url URL ARGS...`` in-process; stdout and stderr kept apart."""

    def __init__(self, db_path: Path, clocks: Clocks | None = None):
        self.db_path = db_path
        self.clocks = clocks or Clocks(sleep=lambda seconds: None)
        self.runner = CliRunner()

    def __call__(self, *args: str, api_url: str = API, input: str | None = None) -> Result:
        return self.runner.invoke(
            cli, ["--db", str(self.db_path), "--api-url", api_url, *args], input=input,
            catch_exceptions=False, prog_name="regsync", obj=self.clocks,
        )
