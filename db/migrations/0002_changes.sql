-- Classified changes between two stored versions of a study, so `regsync changes` is a query.

CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    nct_id TEXT NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    category TEXT NOT NULL,
    severity TEXT NOT NULL,              -- critical | major | minor | admin
    kind TEXT NOT NULL,                  -- added | removed | changed | renamed | moved
    path TEXT NOT NULL,
    old TEXT,                            -- JSON
    new TEXT,                            -- JSON
    summary TEXT NOT NULL,
    rule TEXT NOT NULL,
    milestone INTEGER NOT NULL DEFAULT 0,
    context TEXT,
    delta_days INTEGER,
    delta_months INTEGER,
    detected_at TEXT NOT NULL,
    FOREIGN KEY (nct_id, from_version) REFERENCES versions (nct_id, version),
    FOREIGN KEY (nct_id, to_version) REFERENCES versions (nct_id, version)
);
CREATE INDEX changes_study ON changes (nct_id, to_version);
CREATE INDEX changes_detected ON changes (detected_at);
