"""`history --json`'s keys are the README's key list, no more and no fewer (issue 22 item
12): a script written from the README finds every key it reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from support.results import DEFAULT

README = Path(__file__).parent.parent / "README.md"


def _readme_history_keys() -> set[str]:
    text = README.read_text()
    start = text.index("`--json` prints an array of objects with `version`")
    paragraph = text[start:text.index("\n\n", start)]
    # Parentheses say what a key holds (`api`, `"3a"`): values, not keys.
    paragraph = re.sub(r"\([^()]*\)", "", paragraph)
    return set(re.findall(r"`([a-z_]+)`", paragraph)) - {"--json"}


def test_history_json_keys_are_the_readme_s(fake, run):
    _, server = fake
    assert run("sync", DEFAULT, api_url=server.url).exit_code == 0
    rows = json.loads(run("history", DEFAULT, "--json").stdout)
    assert rows
    keys = _readme_history_keys()
    assert "module_labels" in keys and "api" not in keys  # the README's paragraph was read
    assert [set(row) for row in rows] == [keys] * len(rows)
