-- Credentials that older regsync versions stored with the URL that answered
-- (https://user:secret@host/...): `history --json` and Datasette served them. The upgrade
-- replaces them with *** (regsync.urls.redact_url), in the same transaction as the schema:
-- regsync.store runs this migration's data step (_DATA_STEPS) after these statements.
SELECT 1;
