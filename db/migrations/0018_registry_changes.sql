-- Issue 23 item 4. Structural changes the registry made across many studies at once (a field
-- dropped, added, renamed or retyped, the records' update dates unmoved), one row per change
-- per run (or seed) that found it (regsync.sentinel). The judge consults this table: a pair of
-- versions whose older one was stored before run_id and whose newer one in run_id or after
-- records these changes as the registry's (category 'registry', admin), so reclassify keeps
-- them; `status` lists them under the run that found them.
CREATE TABLE registry_changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    path TEXT NOT NULL,                  -- item selectors reduced to [] (a rename: the old name)
    shape TEXT NOT NULL,                 -- disappeared | appeared | renamed | retyped
    detail TEXT NOT NULL DEFAULT '',     -- renamed: the new name; retyped: 'string -> list'
    studies INTEGER NOT NULL,            -- studies that showed it in that run
    fetched INTEGER NOT NULL,            -- studies that run fetched
    detected_at TEXT NOT NULL,
    UNIQUE (run_id, path, shape, detail)
);
