-- One timeline per study (issue 19). A study's versions form one chain in the registry's
-- order: its version number where known, else the record's lastUpdateSubmitDate, then when
-- regsync first saw it (regsync.chain). `version` stays the row's stable local id (changes and
-- obligations refer to it); `chain_pos` and `label` are the row's place in the chain and the
-- name every output gives it (the registry's number, 1-based as on its website, once the
-- study's registry history is known; a silent edit is a variant, '3a'; before that regsync's
-- own sequence). Both are rewritten by regsync.judge whenever the chain changes.
ALTER TABLE versions ADD COLUMN submitted TEXT;       -- the record's lastUpdateSubmitDate
ALTER TABLE versions ADD COLUMN chain_pos INTEGER;    -- 1, 2, ... in the chain's order
ALTER TABLE versions ADD COLUMN label TEXT;           -- '1', '2', '3a', ...
-- The version (row) this one's changes were judged against; 0 for the first of the chain;
-- NULL while not judged (a kill between storing and judging, a judge that failed): the next
-- run judges it.
ALTER TABLE versions ADD COLUMN judged_prev INTEGER;
-- 1 when the registry's history payload of registry_version was read and equals this row
-- (after normalisation): one entry, both sources. 0 with a registry_version: the number was
-- given by the history index's date alone (a sync's fill-in), until a backfill confirms it.
ALTER TABLE versions ADD COLUMN in_history INTEGER NOT NULL DEFAULT 0;

UPDATE versions SET submitted = COALESCE(
    json_extract(record, '$.protocolSection.statusModule.lastUpdateSubmitDate'), registry_date);
UPDATE versions SET in_history = 1 WHERE registry_version IS NOT NULL;
-- What the older code judged: the pair it stored changes for, else the previous own
-- snapshot, else nothing (the first). regsync.judge re-judges every row whose neighbour in
-- the chain is not the one it was judged against; `regsync reclassify` re-judges them all.
UPDATE versions SET judged_prev = COALESCE(
    (SELECT MAX(c.from_version) FROM changes c
      WHERE c.nct_id = versions.nct_id AND c.to_version = versions.version),
    (SELECT MAX(p.version) FROM versions p
      WHERE p.nct_id = versions.nct_id AND p.version < versions.version AND p.source != 'registry-history'),
    0);
-- chain_pos NULL: the study's chain is not settled yet. The next writing run settles it
-- (regsync.judge.settle_pending: ordered, labelled, and only the pairs that were not
-- neighbours before judged), study by study, each in its own transaction: resumable.

-- What a writer asks on every start (Store.unsettled_studies): answered from this small
-- partial index, never by reading the rows (their later columns sit past the record's bytes).
CREATE INDEX versions_unsettled ON versions (nct_id) WHERE judged_prev IS NULL OR chain_pos IS NULL;
-- Placing a version in its chain reads every version's place of the study, and a backfill
-- does it once per version stored: from this index alone, never from the rows, whose later
-- columns sit past the record's bytes (a study of 100 versions of 1.5 MB would otherwise read
-- 150 MB per version placed).
CREATE INDEX versions_chain ON versions (nct_id, chain_pos, version, registry_version, registry_date,
    submitted, last_update_post_date, fetched_at, judged_prev, label, source, in_history, norm_hash,
    content_hash, module_labels);

-- Set when a sync stores a changed version, in the same transaction: the registry's history
-- of that study is owed a fill-in of the versions regsync never saw (regsync.history). The
-- fill-in clears it once done, so a fill-in cut short by a kill or refused by the registry
-- is finished by a later sync.
ALTER TABLE studies ADD COLUMN history_due TEXT;
-- The label of current_version (a sync's "unchanged (v5)" line, without reading versions).
ALTER TABLE studies ADD COLUMN current_label TEXT;

-- Issue 19: the views name versions as every output does (the chain's labels: the registry's
-- numbers, 1-based, once known) and carry each change's three dates: `submitted` (the newer
-- version's lastUpdateSubmitDate, the registry's date where its history gives one), `posted`
-- (its lastUpdatePostDate: when the public could see it) and `detected_at` (when regsync
-- learned of it), with `registry_version` (1-based) and `chain_pos` for ordering. A version
-- is a number, or text for a variant ('3a').
DROP VIEW IF EXISTS flagged_changes;
CREATE VIEW flagged_changes AS
SELECT
    c.detected_at,
    c.nct_id,
    s.brief_title,
    CASE WHEN p.label NOT GLOB '*[^0-9]*' THEN CAST(p.label AS INTEGER) ELSE p.label END AS from_version,
    CASE WHEN v.label NOT GLOB '*[^0-9]*' THEN CAST(v.label AS INTEGER) ELSE v.label END AS to_version,
    COALESCE(v.registry_date, v.submitted) AS submitted,
    v.last_update_post_date AS posted,
    v.registry_version + 1 AS registry_version,
    v.chain_pos,
    c.severity,
    CASE c.severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 WHEN 'minor' THEN 2 ELSE 3 END AS severity_rank,
    c.category,
    c.summary,
    c.milestone,
    c.kind,
    c.rule,
    c.path,
    c.delta_days,
    c.delta_months,
    'https://clinicaltrials.gov/study/' || c.nct_id AS registry_url,
    c.id AS change_id
FROM changes c
LEFT JOIN studies s ON s.nct_id = c.nct_id
JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
LEFT JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version
WHERE c.severity != 'admin' OR c.milestone = 1;

-- One row per stored version: status, the three milestone dates with their type (ACTUAL or
-- ESTIMATED) and enrollment, as the registry gave them in that version.
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
    json_extract(v.record, '$.protocolSection.statusModule.startDateStruct.date') AS start_date,
    json_extract(v.record, '$.protocolSection.statusModule.startDateStruct.type') AS start_date_type,
    json_extract(v.record, '$.protocolSection.statusModule.primaryCompletionDateStruct.date') AS primary_completion_date,
    json_extract(v.record, '$.protocolSection.statusModule.primaryCompletionDateStruct.type') AS primary_completion_date_type,
    json_extract(v.record, '$.protocolSection.statusModule.completionDateStruct.date') AS completion_date,
    json_extract(v.record, '$.protocolSection.statusModule.completionDateStruct.type') AS completion_date_type,
    json_extract(v.record, '$.protocolSection.designModule.enrollmentInfo.count') AS enrollment,
    json_extract(v.record, '$.protocolSection.designModule.enrollmentInfo.type') AS enrollment_type,
    'https://clinicaltrials.gov/study/' || v.nct_id AS registry_url
FROM versions v;

-- Each move of startDate, primaryCompletionDate or completionDate between two versions, with
-- its size (days when both dates are day-precise, else months; positive is later).
DROP VIEW IF EXISTS date_slips;
CREATE VIEW date_slips AS
SELECT
    c.detected_at,
    c.nct_id,
    s.brief_title,
    CASE WHEN p.label NOT GLOB '*[^0-9]*' THEN CAST(p.label AS INTEGER) ELSE p.label END AS from_version,
    CASE WHEN v.label NOT GLOB '*[^0-9]*' THEN CAST(v.label AS INTEGER) ELSE v.label END AS to_version,
    COALESCE(v.registry_date, v.submitted) AS submitted,
    v.last_update_post_date AS posted,
    v.registry_version + 1 AS registry_version,
    v.chain_pos,
    CASE
        WHEN c.path LIKE '%.primaryCompletionDateStruct' THEN 'primaryCompletionDate'
        WHEN c.path LIKE '%.completionDateStruct' THEN 'completionDate'
        ELSE 'startDate'
    END AS date_field,
    json_extract(c.old, '$.date') AS old_date,
    json_extract(c.old, '$.type') AS old_type,
    json_extract(c.new, '$.date') AS new_date,
    json_extract(c.new, '$.type') AS new_type,
    c.delta_days,
    c.delta_months,
    c.severity,
    c.summary,
    'https://clinicaltrials.gov/study/' || c.nct_id AS registry_url
FROM changes c
LEFT JOIN studies s ON s.nct_id = c.nct_id
JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
LEFT JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version
WHERE c.path LIKE '%.startDateStruct'
   OR c.path LIKE '%.primaryCompletionDateStruct'
   OR c.path LIKE '%.completionDateStruct';

-- Outcome measures added, removed, renamed or redefined: where outcome switching shows.
-- Bookkeeping on outcomes (registry review annotations) is left out.
DROP VIEW IF EXISTS outcome_changes;
CREATE VIEW outcome_changes AS
SELECT
    c.detected_at,
    c.nct_id,
    s.brief_title,
    CASE WHEN p.label NOT GLOB '*[^0-9]*' THEN CAST(p.label AS INTEGER) ELSE p.label END AS from_version,
    CASE WHEN v.label NOT GLOB '*[^0-9]*' THEN CAST(v.label AS INTEGER) ELSE v.label END AS to_version,
    COALESCE(v.registry_date, v.submitted) AS submitted,
    v.last_update_post_date AS posted,
    v.registry_version + 1 AS registry_version,
    v.chain_pos,
    CASE
        WHEN c.path LIKE '%.primaryOutcomes%' THEN 'primary'
        WHEN c.path LIKE '%.secondaryOutcomes%' THEN 'secondary'
        WHEN c.path LIKE '%.otherOutcomes%' THEN 'other'
    END AS outcome_type,
    c.kind,
    c.severity,
    c.rule,
    c.summary,
    c.old,
    c.new,
    c.context,
    c.path,
    'https://clinicaltrials.gov/study/' || c.nct_id AS registry_url
FROM changes c
LEFT JOIN studies s ON s.nct_id = c.nct_id
JOIN versions v ON v.nct_id = c.nct_id AND v.version = c.to_version
LEFT JOIN versions p ON p.nct_id = c.nct_id AND p.version = c.from_version
WHERE c.category = 'outcomes' AND c.severity != 'admin';
