-- Core schema: current state per study, every stored version, the run ledger, the watchlist.
-- Times are UTC ISO 8601 strings ("2026-11-24T23:25:48Z"); JSON is stored as TEXT.

CREATE TABLE studies (
    nct_id TEXT PRIMARY KEY,
    brief_title TEXT,
    overall_status TEXT,
    last_update_post_date TEXT,
    current_version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,          -- hash of the current version, for the unchanged check
    first_seen TEXT NOT NULL,
    last_checked TEXT NOT NULL,          -- last time the registry confirmed this content
    last_changed TEXT NOT NULL           -- when the current version was stored
);
CREATE INDEX studies_last_checked ON studies (last_checked);

CREATE TABLE versions (
    nct_id TEXT NOT NULL REFERENCES studies (nct_id),
    version INTEGER NOT NULL,            -- 1, 2, ... per study
    fetched_at TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    data_timestamp TEXT,                 -- the API's /version dataTimestamp when known
    source TEXT NOT NULL,                -- the URL that answered
    requested_id TEXT,                   -- the ID asked for, when it was an alias
    run_id INTEGER,
    overall_status TEXT,
    last_update_post_date TEXT,
    record TEXT NOT NULL,                -- the full record JSON as the API returned it
    PRIMARY KEY (nct_id, version)
);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    pid INTEGER,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT NOT NULL,               -- running | ok | failed | partial | nothing-to-do | interrupted
    mode TEXT,                           -- ids | full | incremental
    complete INTEGER NOT NULL DEFAULT 0, -- every study was checked: the next run may go incremental
    data_timestamp TEXT,
    studies_checked INTEGER NOT NULL DEFAULT 0,
    new_studies INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE run_errors (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    nct_id TEXT,
    error TEXT NOT NULL
);
CREATE INDEX run_errors_run ON run_errors (run_id);

CREATE TABLE watchlist (
    nct_id TEXT PRIMARY KEY,
    added_at TEXT NOT NULL
);
