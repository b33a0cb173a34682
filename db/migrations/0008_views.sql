-- Views for browsing a database in Datasette (or any SQLite client): what people ask of the
-- tables, as queries they need not write. Dropped and re-created, so a later migration can
-- redefine a view the same way (SQLite has no CREATE OR REPLACE VIEW). Every view reads
-- only the tables of 0001-0004; `registry_url` is the study's page on the registry.

-- Changes a person should see: anything but registry bookkeeping, and every milestone
-- (the same rule as regsync.model.Change.flagged), with the study's title.
DROP VIEW IF EXISTS flagged_changes;
CREATE VIEW flagged_changes AS
SELECT
    c.detected_at,
    c.nct_id,
    s.brief_title,
    c.from_version,
    c.to_version,
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
WHERE c.severity != 'admin' OR c.milestone = 1;

-- One row per stored version: status, the three milestone dates with their type (ACTUAL or
-- ESTIMATED) and enrollment, as the registry gave them in that version.
DROP VIEW IF EXISTS study_timeline;
CREATE VIEW study_timeline AS
SELECT
    v.nct_id,
    v.version,
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
    c.from_version,
    c.to_version,
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
    c.from_version,
    c.to_version,
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
WHERE c.category = 'outcomes' AND c.severity != 'admin';
