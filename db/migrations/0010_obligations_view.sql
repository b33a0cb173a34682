-- For browsing in Datasette: each study's results obligation as its current version gives it
-- (regsync.obligations), judged on the day that version was fetched (`as_of`); `regsync
-- obligations` judges today. Redefined whole so that a later migration can change it.
DROP VIEW IF EXISTS obligations_current;
CREATE VIEW obligations_current AS
SELECT
    s.nct_id,
    s.brief_title,
    o.version,
    o.applicability,
    o.reason,
    o.due_date,
    o.overdue_after,
    o.state,
    o.days,
    o.as_of,
    'https://clinicaltrials.gov/study/' || s.nct_id AS registry_url
FROM studies s
JOIN obligations o ON o.nct_id = s.nct_id AND o.version = s.current_version;
