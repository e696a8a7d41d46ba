"""The store's SQLite schema and its version: what a database written by this alertd holds, and how a database an
earlier alertd wrote is brought to it (contract §1: upgrades keep the state).

Version 2 adds the vulnerability knowledge (``knowledge``), the reason a finding was withdrawn
(``findings.resolution``), and keys software findings by their asset too (:func:`alertd.domain.values.finding_key`).
Version 3 adds the scope of first contact and the references' counters (:mod:`alertd.store.scope`), marks the
alerts told in an inventory (``alerts.inventory``) and keeps each email's reference (``outbox.reference``).
Version 4 may store a bulk list's entry as its line and the list's layout (:func:`alertd.store.codecs.rows_to_json`),
which an earlier alertd cannot read: the tables are the same, the entries an earlier version wrote read as before.
"""

from __future__ import annotations

import sqlite3

from alertd.domain.codes import SOFTWARE_REASONS
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import StoreError
from alertd.store import acks, escalations, knowledge, proposals, reporting, scope
from alertd.store.codecs import finding_from_json

SCHEMA_VERSION = 4


_STATES = ", ".join(f"'{state}'" for state in DeliveryState)


# What each source said of each CVE (alertd/store/knowledge.py). The primary key, CVE first, is the index by CVE.
KNOWLEDGE = """
CREATE TABLE IF NOT EXISTS knowledge (
    cve TEXT NOT NULL, feed TEXT NOT NULL, entry TEXT NOT NULL,
    body TEXT NOT NULL,  -- the statement (codecs.statement_to_json)
    updated TEXT NOT NULL,  -- when the source last said something new of it
    PRIMARY KEY (cve, feed, entry)
);
"""

SCHEMA = (
    f"""
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
    resolved_at TEXT,  -- its entry was delisted by the feed, or it was withdrawn
    resolved_told TEXT,  -- when an email said so
    resolution TEXT  -- NULL when delisted, else the VersionBasis it was withdrawn for ("fixed-version")
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
    delivery INTEGER REFERENCES outbox (id),
    inventory INTEGER NOT NULL DEFAULT 0  -- backlog, told in the establishment's inventory email
);
CREATE INDEX IF NOT EXISTS alerts_queued ON alerts (delivery, establishment);
CREATE INDEX IF NOT EXISTS alerts_finding ON alerts (finding, id);
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
    sent_at TEXT,
    reference TEXT  -- the CERT's reference of the email (CERTSANTE-2026-ALE-0042)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_message ON outbox (message_id);
"""
    + KNOWLEDGE
    + scope.SCOPE
    + acks.ACKS
    + proposals.PROPOSALS
    + escalations.ESCALATIONS
    + reporting.REPORTING
)


def open_schema(db: sqlite3.Connection, name: str) -> None:
    """Bring the database to this version's schema, in the caller's transaction: create it when empty, upgrade
    what an earlier alertd wrote, and refuse one a later alertd wrote (``name`` says which file in the error)."""
    version = stored_version(db)
    if version is None:
        for statement in _statements(SCHEMA):
            db.execute(statement)
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{name} has schema version {version}, newer than this alertd ({SCHEMA_VERSION}): "
            "upgrade alertd, or point state_dir elsewhere"
        )
    # Tables without a version of their own:
    for statement in _statements(acks.ACKS + proposals.PROPOSALS + escalations.ESCALATIONS):
        db.execute(statement)
    if version < SCHEMA_VERSION:
        if version < 2:
            _upgrade_to_2(db)
        if version < 3:
            _upgrade_to_3(db)
        # Version 3 → 4: the tables are the same; the version alone keeps an earlier alertd from reading the rows.
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    # The report's indexes (no version of their own), over columns version 3 added.
    for statement in _statements(reporting.REPORTING):
        db.execute(statement)


def stored_version(db: sqlite3.Connection) -> int | None:
    """The schema version a database says it has; None for a new (empty) one."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def _upgrade_to_2(db: sqlite3.Connection) -> None:
    """Version 1 → 2: the knowledge, filled from the entries stored; the withdrawal column; software findings
    keyed by their asset, so a finding told before the upgrade is still the finding told."""
    for statement in _statements(KNOWLEDGE):
        db.execute(statement)
    db.execute("ALTER TABLE findings ADD COLUMN resolution TEXT")
    knowledge.fill_from_observations(db)
    reasons = ", ".join(f"'{reason.value}'" for reason in sorted(SOFTWARE_REASONS))
    moves = [
        (new, old)
        for old, body in db.execute(
            f"SELECT key, body FROM findings WHERE json_extract(body, '$.reason') IN ({reasons})"
        ).fetchall()
        if (new := finding_from_json(body).key) != old
    ]
    # Alerts reference their finding's key: checked at commit, once both tables carry the new keys.
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.executemany("UPDATE findings SET key = ? WHERE key = ?", moves)
    db.executemany("UPDATE alerts SET finding = ? WHERE finding = ?", moves)


def _upgrade_to_3(db: sqlite3.Connection) -> None:
    """Version 2 → 3: the scope and the references' counters; the inventory mark on alerts (none was one); the
    reference on deliveries (none had one). A database that has polled seeds its first scope as known since ever."""
    for statement in _statements(scope.SCOPE):
        db.execute(statement)
    db.execute("ALTER TABLE alerts ADD COLUMN inventory INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE outbox ADD COLUMN reference TEXT")
    scope.seed_upgrade(db)


def _statements(script: str) -> list[str]:
    """A script's statements, to run one by one inside a transaction (``executescript`` would commit it)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):  # a ";" in a comment or a string does not end a statement
            statements.append(pending.strip())
            pending = ""
    return statements
