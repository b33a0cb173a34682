-- Issue 20 item 9. The day (as judged, YYYY-MM-DD) an overdue event was noted on: a sync
-- run with the clock far ahead notes a trial overdue "for its due date" before it is; the
-- next run whose day is earlier than this one says it again when the trial really becomes
-- overdue instead of staying silent for good. NULL for events noted before this release
-- (taken as noted on time).
ALTER TABLE events ADD COLUMN noted_on TEXT;

-- Issue 20 item 3. The studies of each backfill run and which of them it finished: a
-- backfill over the same studies after an interrupted or stopped one skips those, so a
-- cron job shorter than "every index" still progresses.
CREATE TABLE backfill_studies (
    run_id INTEGER NOT NULL,
    nct_id TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,  -- 0 not finished, 1 finished, 2 tried and failed (a study error)
    PRIMARY KEY (run_id, nct_id)
) WITHOUT ROWID;
