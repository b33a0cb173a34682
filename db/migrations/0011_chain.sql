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

CREATE INDEX versions_unjudged ON versions (nct_id) WHERE judged_prev IS NULL;
CREATE INDEX versions_chain ON versions (nct_id, chain_pos);

-- Set when a sync stores a changed version, in the same transaction: the registry's history
-- of that study is owed a fill-in of the versions regsync never saw (regsync.history). The
-- fill-in clears it once done, so a fill-in cut short by a kill or refused by the registry
-- is finished by a later sync.
ALTER TABLE studies ADD COLUMN history_due TEXT;
