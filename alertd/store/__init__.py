"""The state store: feed state, observations, findings, alerts and the outbox, in SQLite, with its codecs."""

import sqlite3

STORE_FAILURES: tuple[type[Exception], ...] = (sqlite3.Error,)
"""What the store raises when its database cannot be written or read (a full disk, a read-only or damaged file):
the service counts it, keeps what it knows in memory and carries on (contract §6)."""
