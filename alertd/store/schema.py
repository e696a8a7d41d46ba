"""The store's SQLite schema and its version: what a database written by this alertd holds."""

from __future__ import annotations

from alertd.domain.delivery import DeliveryState

SCHEMA_VERSION = 1


_STATES = ", ".join(f"'{state}'" for state in DeliveryState)


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feed_state (
    feed TEXT PRIMARY KEY,
    etag TEXT, last_modified TEXT,
    last_attempt TEXT, last_success TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    entries_seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS observations (
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    digest TEXT NOT NULL, body TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, delisted_at TEXT,
    PRIMARY KEY (feed, entry)
);
CREATE TABLE IF NOT EXISTS findings (
    key TEXT PRIMARY KEY,
    establishment TEXT NOT NULL, body TEXT NOT NULL,
    feed TEXT NOT NULL, entry TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    last_alerted TEXT, thread TEXT,
    resolved_at TEXT,  -- its entry was delisted by the feed
    resolved_told TEXT  -- when an email said so
);
CREATE INDEX IF NOT EXISTS findings_entry ON findings (feed, entry);
CREATE INDEX IF NOT EXISTS findings_establishment ON findings (establishment);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    finding TEXT NOT NULL REFERENCES findings (key),
    establishment TEXT NOT NULL,
    severity INTEGER NOT NULL,
    subscription TEXT NOT NULL,
    immediate INTEGER NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL,
    delivery INTEGER REFERENCES outbox (id)
);
CREATE INDEX IF NOT EXISTS alerts_queued ON alerts (delivery, establishment);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    establishment TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    message BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_STATES})),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    last_error TEXT,
    created TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (message_id);
"""
