-- Issue 23 item 2: versions stored compactly (regsync.bodies). A version's record becomes
-- `body`: the exact bytes the registry sent, as a zstd frame, self-contained (plain, or with
-- the trained dictionary of `body_dicts` its frame header names) or a delta against the row
-- `body_base` (a local version number of the same study) used as raw-content dictionary.
-- `record` is left empty ('') once `body` holds the record: its NOT NULL cannot be relaxed
-- without copying every row. Rows stored before this release keep `record` (and a NULL
-- `body`) until converted: regsync.store converts them after the migrations, a batch per
-- transaction, on every writer's open until none is left (kill-safe and resumable), and
-- every reader reads either form.
--
-- The columns Datasette's study_timeline view showed from the record (json_extract) are
-- kept in the clear: filled when a version is stored, and by the conversion. They are
-- declared before `body` so that reading them never reads past the compressed bytes.
ALTER TABLE versions ADD COLUMN start_date TEXT;
ALTER TABLE versions ADD COLUMN start_date_type TEXT;
ALTER TABLE versions ADD COLUMN primary_completion_date TEXT;
ALTER TABLE versions ADD COLUMN primary_completion_date_type TEXT;
ALTER TABLE versions ADD COLUMN completion_date TEXT;
ALTER TABLE versions ADD COLUMN completion_date_type TEXT;
ALTER TABLE versions ADD COLUMN enrollment;          -- as the record gives it (a number, as a rule)
ALTER TABLE versions ADD COLUMN enrollment_type TEXT;
ALTER TABLE versions ADD COLUMN body_base INTEGER;   -- NULL: `body` is self-contained
ALTER TABLE versions ADD COLUMN body BLOB;

-- Trained zstd dictionaries; `id` is the id zstd writes in the header of each frame made with it.
CREATE TABLE body_dicts (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL,
    trained_at TEXT NOT NULL,
    samples INTEGER NOT NULL
);

-- What is left to convert (empty once done: every writer asks on open).
CREATE INDEX versions_unconverted ON versions (nct_id, version) WHERE body IS NULL;

-- The view reads the clear columns of converted rows, the record of a row not yet converted.
DROP VIEW IF EXISTS study_timeline;
CREATE VIEW study_timeline AS
SELECT
    v.nct_id,
    CASE WHEN v.label NOT GLOB '*[^0-9]*' THEN CAST(v.label AS INTEGER) ELSE v.label END AS version,
    v.registry_version + 1 AS registry_version,
    COALESCE(v.registry_date, v.submitted) AS submitted,
    v.last_update_post_date AS posted,
    v.fetched_at AS detected_at,
    v.chain_pos,
    v.fetched_at,
    v.data_timestamp,
    v.last_update_post_date,
    v.overall_status,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.startDateStruct.date') ELSE v.start_date END AS start_date,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.startDateStruct.type') ELSE v.start_date_type END AS start_date_type,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.primaryCompletionDateStruct.date') ELSE v.primary_completion_date END AS primary_completion_date,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.primaryCompletionDateStruct.type') ELSE v.primary_completion_date_type END AS primary_completion_date_type,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.completionDateStruct.date') ELSE v.completion_date END AS completion_date,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.statusModule.completionDateStruct.type') ELSE v.completion_date_type END AS completion_date_type,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.designModule.enrollmentInfo.count') ELSE v.enrollment END AS enrollment,
    CASE WHEN v.body IS NULL THEN json_extract(v.record, '$.protocolSection.designModule.enrollmentInfo.type') ELSE v.enrollment_type END AS enrollment_type,
    'https://clinicaltrials.gov/study/' || v.nct_id AS registry_url
FROM versions v;
