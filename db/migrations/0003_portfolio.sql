-- Portfolios: query watches, and events such as a study the registry stopped returning.

CREATE TABLE watch_queries (
    id INTEGER PRIMARY KEY,
    expr TEXT NOT NULL UNIQUE,           -- an Essie expression, sent as query.term
    added_at TEXT NOT NULL
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    nct_id TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- removed | reappeared | alias | matched
    detail TEXT,
    detected_at TEXT NOT NULL,
    run_id INTEGER
);
CREATE INDEX events_study ON events (nct_id);

ALTER TABLE studies ADD COLUMN removed_at TEXT;  -- set while the registry no longer returns it
ALTER TABLE watchlist ADD COLUMN query_id INTEGER; -- set when a query watch brought it in
