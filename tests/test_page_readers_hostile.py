"""The hostile-answer tests of a batched sync (tests/test_hostile.py), run again with every
page read beside the writer (regsync.prepared): a page that is not a page, a token that
repeats, an answer past the size cap say the same and cost the same read anywhere."""

from __future__ import annotations

import pytest

from regsync import sync as sync_module
from test_hostile import (  # noqa: F401
    server,
    test_a_gzip_bomb_under_a_small_cap_and_a_normal_record_beside_it,
    test_a_repeating_token_in_a_batch_stops_after_two_pages,
    test_an_answer_that_is_not_the_api_fails_the_run_before_any_removal,
    test_an_endless_chunked_page_fails_the_batch_and_the_studies_come_one_by_one,
)


@pytest.fixture(autouse=True)
def _every_page_read_beside_the_writer(monkeypatch):
    monkeypatch.setattr(sync_module, "PAGE_READERS_FROM", 2)
