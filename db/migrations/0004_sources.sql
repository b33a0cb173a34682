-- The URL each version came from, stored once. A filter.ids page answers for up to 1,000
-- studies with one URL of up to 7,000 characters; repeated in every version it was a third
-- of the bytes a first sync wrote (and of the time it spent writing them).
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE
);

-- Versions stored from now on name their source here and leave versions.source empty:
-- SQLite cannot relax that column's NOT NULL without copying every stored record. Versions
-- stored before keep their URL in versions.source (and source_id NULL).
ALTER TABLE versions ADD COLUMN source_id INTEGER REFERENCES sources (id);
