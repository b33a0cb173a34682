-- The registry's own version history (issue 12). Registry versions are rows of `versions`
-- like regsync's own snapshots: `version` stays regsync's local sequence (feed IDs, change
-- rows and obligations keep referring to it, so nothing stored is renumbered), and the
-- timeline orders by registry_date, then fetched_at. A row fetched from the history has
-- source 'registry-history'; an own snapshot whose content equals a registry version (after
-- markup normalisation) carries that version's number and date instead of a second row.
ALTER TABLE versions ADD COLUMN registry_version INTEGER;   -- the registry's, 0-based
ALTER TABLE versions ADD COLUMN registry_date TEXT;         -- when the sponsor submitted it
ALTER TABLE versions ADD COLUMN module_labels TEXT;         -- JSON list, as the index gives it
ALTER TABLE versions ADD COLUMN norm_hash TEXT;             -- content hash after normalisation
CREATE UNIQUE INDEX versions_registry ON versions (nct_id, registry_version) WHERE registry_version IS NOT NULL;
