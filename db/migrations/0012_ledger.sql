-- Issue 22 items 5 and 11. How many studies each query watch matched on the last run that
-- asked (NULL: not asked yet), and that run: a mistyped expression matches 0, and `watch
-- list` says so instead of silently watching nothing.
ALTER TABLE watch_queries ADD COLUMN last_matched INTEGER;
ALTER TABLE watch_queries ADD COLUMN last_matched_run INTEGER;
-- Registry versions a backfill stored (NULL for other runs): a backfill is counted in
-- versions, not in new/changed studies.
ALTER TABLE runs ADD COLUMN versions_stored INTEGER;
