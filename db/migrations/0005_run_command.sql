-- What the run ledger needs so that nothing depends on the local clock being right
-- (issue 10 items 2, 3, 13; issue 11 item 10).

-- How long a run took, measured with a monotonic clock: ended_at - started_at goes negative
-- (or spans years) when the wall clock is set while a run is going.
ALTER TABLE runs ADD COLUMN duration_seconds REAL;

-- The run that last verified a study against the registry: the rolling re-check takes the
-- least recently verified first by this sequence, never by last_checked (a run made with the
-- clock years ahead would otherwise put its studies last for years). NULL: before 0005.
ALTER TABLE studies ADD COLUMN checked_run INTEGER;

-- The newest run when a query watch was added: "added since the last complete run" compared
-- by run sequence, not by a timestamp from a clock that may have gone back.
ALTER TABLE watch_queries ADD COLUMN added_after_run INTEGER;

-- Old, merged NCT numbers and the study each now answers as: every command that takes an
-- NCT ID resolves through this table.
CREATE TABLE aliases (
    alias TEXT PRIMARY KEY,
    nct_id TEXT NOT NULL,
    detected_at TEXT NOT NULL
);
INSERT OR IGNORE INTO aliases (alias, nct_id, detected_at)
    SELECT substr(detail, 1, instr(detail, ' is an alias of ') - 1), nct_id, MIN(detected_at)
    FROM events WHERE kind = 'alias' AND instr(detail, ' is an alias of ') > 1
    GROUP BY 1, 2;
INSERT OR IGNORE INTO aliases (alias, nct_id, detected_at)
    SELECT requested_id, nct_id, MIN(fetched_at) FROM versions
    WHERE requested_id IS NOT NULL AND requested_id != nct_id GROUP BY 1, 2;
-- The old numbers each study's current record lists as its own.
INSERT OR IGNORE INTO aliases (alias, nct_id, detected_at)
    SELECT a.value, v.nct_id, v.fetched_at
    FROM studies s
    JOIN versions v ON v.nct_id = s.nct_id AND v.version = s.current_version
    JOIN json_each(CASE WHEN json_valid(v.record) THEN v.record ELSE '{}' END,
                   '$.protocolSection.identificationModule.nctIdAliases') a
    WHERE a.type = 'text' AND a.value GLOB 'NCT[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]' AND a.value != v.nct_id;
