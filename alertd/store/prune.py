"""Pruning: what left the feeds, once resolved and told, is deleted after the retention period (contract §1).

A feed listing a million entries a day would otherwise grow the state without end. Deleted after ``retention``
(``alertd.yaml``, 90 days unless set):

- an entry its feed delisted that long ago (what it said of its CVEs stays: the knowledge is never pruned);
- a finding resolved that long ago whose entry its feed no longer lists, with its alerts, unless an alert of it
  still waits for an email, or went into an email not sent yet (pending, being sent or failed: the operators may
  still requeue it), or the finding's resolution was not told yet to an establishment that was warned;
- an email sent that long ago that no alert refers to any more (an operators' notice, or the email of pruned
  alerts); an email not sent is never pruned.

Functions take a connection, so the daemon runs them in the store's writer thread (:mod:`alertd.store.bulk`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.delivery import DeliveryState
from alertd.store.bulk import transaction
from alertd.store.codecs import encode_time

# Findings that may go: resolved before the cutoff, their entry no longer listed, their resolution told (or never
# to be told: nobody was warned), and no alert of theirs waiting for an email or in one not sent yet.
_PRUNABLE = f"""
    SELECT f.key FROM findings f
    WHERE f.resolved_at IS NOT NULL AND f.resolved_at < :cutoff
      AND (f.last_alerted IS NULL OR f.resolved_told IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM observations o
                      WHERE o.feed = f.feed AND o.entry = f.entry AND o.delisted_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM alerts a LEFT JOIN outbox d ON d.id = a.delivery
                      WHERE a.finding = f.key AND (a.delivery IS NULL OR d.state != '{DeliveryState.SENT}'))
"""


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows a pruning deleted, table by table."""

    observations: int = 0
    findings: int = 0
    alerts: int = 0
    emails: int = 0

    @property
    def total(self) -> int:
        """Every row deleted."""
        return self.observations + self.findings + self.alerts + self.emails


def prune_before(db: sqlite3.Connection, cutoff: datetime) -> Pruned:
    """Delete what left the feeds before ``cutoff`` and is resolved and told (see the module), in one transaction."""
    args = {"cutoff": encode_time(cutoff), "delivered": DeliveryState.SENT.value}
    with transaction(db):
        observations = db.execute(
            "DELETE FROM observations WHERE delisted_at IS NOT NULL AND delisted_at < :cutoff", args
        ).rowcount
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prunable (key TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM prunable")
        db.execute("INSERT INTO prunable " + _PRUNABLE, args)
        alerts = db.execute("DELETE FROM alerts WHERE finding IN (SELECT key FROM prunable)").rowcount
        findings = db.execute("DELETE FROM findings WHERE key IN (SELECT key FROM prunable)").rowcount
        emails = db.execute(
            """DELETE FROM outbox WHERE state = :delivered AND sent_at IS NOT NULL AND sent_at < :cutoff
                   AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.delivery = outbox.id)""",
            args,
        ).rowcount
        db.execute("DELETE FROM prunable")
    return Pruned(observations, findings, alerts, emails)
