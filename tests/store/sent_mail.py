"""Emails told and sent through a real store, as a poll, a dispatch and a flush would (the state tests)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from builders import NOW

from alertd.domain.values import Alert
from alertd.store.sqlite import Store

CHU = "330781196"


def queue(store: Store, alert: Alert, *, minutes: int = 0, reference: bool = True) -> int:
    """Queue the alert and put it in an email (with a reference unless told not), as a poll and a dispatch would;
    the delivery's id."""
    at = NOW + timedelta(minutes=minutes)
    store.save_findings([alert.finding], [alert], at)
    (queued,) = store.queued_alerts(immediate=True)[CHU]
    number = store.next_reference("ALE", 2025) if reference else None
    return store.enqueue_email(
        establishment=CHU,
        alert_ids=[queued.id],
        finding_keys=[alert.finding.key],
        message_id=f"<m{minutes}@cert.example>",
        sender="alertes@cert.example",
        recipients=["rssi@chu.example"],
        subject="Alerte",
        message=b"Subject: Alerte\r\n\r\nbody\r\n",
        now=at,
        reference=None if number is None else f"CERT-2025-ALE-{number:04d}",
    )


def tell(store: Store, alert: Alert, *, minutes: int = 0) -> int:
    """Queue the alert, put it in an email with a reference, and send it (as a poll, a dispatch and a flush)."""
    delivery = queue(store, alert, minutes=minutes)
    store.mark_sending(delivery)
    store.mark_sent(delivery, NOW + timedelta(minutes=minutes))
    return delivery


def copy_of(store: Store, to: Path) -> Path:
    """A copy of the store's file as an operator would take one by hand (WAL checkpointed first)."""
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(store.path, to)
    return to
