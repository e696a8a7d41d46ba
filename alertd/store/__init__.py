"""The state store: feed state, observations, findings, alerts and the outbox, in SQLite, with its codecs."""

import sqlite3
from pathlib import Path

from alertd.domain.errors import StoreError


class StateFileError(StoreError):
    """A state file beside the database (the send journal, the marker) could not be written (a full disk, say)
    or read. A store failure like SQLite's own, counted and held in memory by the service (contract §6)."""

    def __init__(self, path: Path, exc: OSError, doing: str = "write") -> None:
        self.path = path
        super().__init__(f"cannot {doing} {path}: {exc.strerror or exc}")


STORE_FAILURES: tuple[type[Exception], ...] = (sqlite3.Error, StateFileError)
"""What the store raises when its database or the files beside it cannot be written or read (a full disk, a
read-only or damaged file): the service counts it, keeps what it knows in memory and carries on (contract §6)."""
