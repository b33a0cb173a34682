-- The results obligation of every stored version (regsync.obligations): applicability under
-- FDAAA 801 as estimated from the record, the results due date, and the state as judged on
-- the day the version was fetched (as_of). `regsync reclassify` recomputes every row.
CREATE TABLE obligations (
    nct_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    applicability TEXT NOT NULL,         -- ACT | pACT | not applicable
    reason TEXT NOT NULL,                -- why, in words
    due_date TEXT,                       -- results due, YYYY-MM-DD
    overdue_after TEXT,                  -- due date + 30 days' grace
    state TEXT NOT NULL,                 -- not-yet-due | due | overdue | reported | reported-late | submitted | not-applicable
    days INTEGER,                        -- days overdue or reported late, as of as_of
    as_of TEXT NOT NULL,                 -- YYYY-MM-DD the state was judged on
    detail TEXT NOT NULL,                -- the whole obligation as JSON (notes, duties, dates)
    PRIMARY KEY (nct_id, version),
    FOREIGN KEY (nct_id, version) REFERENCES versions (nct_id, version)
);
CREATE INDEX obligations_overdue ON obligations (overdue_after);
