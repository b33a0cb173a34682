-- Issue 23 item 1. `regsync seed ZIP`: how far the seed of each bulk download got. `zip` is
-- the archive's identity (its size and a hash of its central directory: a copy or a renamed
-- file is the same archive, a newer download another); `done` counts the members (in central
-- directory order) whose studies are stored, committed in the transaction that stores them, so
-- a seed killed at any point continues at `done` and never stores a member twice. The counts
-- are the whole seed's so far (every run of it), for its summary.
CREATE TABLE seed_progress (
    zip TEXT PRIMARY KEY,
    name TEXT NOT NULL,                   -- the file's name, as the summary says it
    data_timestamp TEXT,                  -- the download's date (see regsync.seed)
    members INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    new_studies INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,   -- members that are not study records
    errors INTEGER NOT NULL DEFAULT 0,    -- study records the store refused
    older INTEGER NOT NULL DEFAULT 0,     -- records older than the version stored (left as stored)
    first_run INTEGER,                    -- the run that began it
    finished_run INTEGER                  -- the run that read its last member (NULL: not yet)
);
