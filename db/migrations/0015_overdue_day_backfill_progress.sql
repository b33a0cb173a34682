-- Issue 20 item 9. The day (as judged, YYYY-MM-DD) an overdue event was noted on: a sync
-- run with the clock far ahead notes a trial overdue "for its due date" before it is; the
-- next run whose day is earlier than this one says it again when the trial really becomes
-- overdue instead of staying silent for good. NULL for events noted before this release
-- (taken as noted on time).
ALTER TABLE events ADD COLUMN noted_on TEXT;
