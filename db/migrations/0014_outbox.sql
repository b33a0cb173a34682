-- Issue 20 item 5. The notifications a sync decided to send, recorded in the transaction that
-- records how the run ended, before any is sent: a kill between that commit and delivery, or a
-- receiver that fails (HTTP 500, refused), leaves the message here for the next sync, which
-- delivers what is pending first. One row per message per channel ("webhook" or "mail");
-- payload: what is sent, as JSON (never the webhook URL or the SMTP password: secrets stay in
-- the environment). next_attempt_after: the earliest time a retry may go (back-off, UTC);
-- sent_at: delivered, never sent again; gave_up_at: too many failed attempts, shown by `status`.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    created TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_after TEXT,
    sent_at TEXT,
    gave_up_at TEXT,
    last_error TEXT
);
CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL AND gave_up_at IS NULL;
