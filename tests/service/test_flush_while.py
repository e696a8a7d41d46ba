"""``run --once`` sends each batch of emails while the next ones render (``Engine.flush_while``): the first
warnings of a mass event leave before the last are made, and each goes once."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from configs import numbered_world
from smtp_server import SmtpServerFactory

from alertd.config.files import load_config
from alertd.send.transports import MaildirTransport, Transport
from alertd.service.daemon import run_cycle
from alertd.service.dispatch import BATCH_EMAILS
from alertd.service.engine import Engine
from alertd.service.flush import Flusher, FlushReport
from alertd.store.records import Outgoing
from alertd.store.sqlite import Store

COUNT = 4 * BATCH_EMAILS  # four batches at least


def test_the_first_batches_are_sent_while_the_last_render(
    tmp_path: Path, smtp_server: SmtpServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = smtp_server(tls="none")
    (tmp_path / "c2.csv").write_text("ip\n" + "\n".join(f"81.{i // 250}.{i % 250}.9" for i in range(COUNT)) + "\n")
    feeds = "feeds:\n  - {id: c2, url: 'file://c2.csv', format: csv, interval: 1h, columns: {ip: ip}}\n"
    config = load_config(numbered_world(tmp_path, COUNT, feeds, smtp.port))
    received_at_commit: list[int] = []  # how many messages the server held as each batch was committed
    enqueue = Store.enqueue_emails

    def counted(self: Store, emails: Sequence[Outgoing], now: datetime) -> list[object]:
        received_at_commit.append(len(smtp.messages))
        return list(enqueue(self, emails, now))

    monkeypatch.setattr(Store, "enqueue_emails", counted)
    report = asyncio.run(run_cycle(config))

    assert report.emails == COUNT and report.flush.sent == COUNT and report.flush.failed == 0
    assert len(received_at_commit) >= 4
    assert received_at_commit[0] == 0  # nothing to send before the first batch
    assert received_at_commit[-1] > 0  # the first batches went while the last rendered
    to = collections.Counter(m.rcpt_tos for m in smtp.messages)
    assert len(to) == COUNT and set(to.values()) == {1}  # every establishment once


def test_a_flusher_holding_its_sends_leaves_the_loop_to_the_dispatch(tmp_path: Path) -> None:
    """A stop asked for while a dispatch renders: the flushes hold, and the event loop still runs the dispatch to
    its end (a held flush awaits nothing: looping on it at once would starve the loop)."""
    calls = 0

    async def stopping() -> tuple[str, FlushReport]:
        store = Store(tmp_path / "state.sqlite3")  # in the thread that runs the loop, as SQLite wants
        flusher = Flusher(store)

        class Flushing:  # what Engine.flush_while calls on its engine
            async def flush(self, transport: Transport, now: datetime | None = None) -> FlushReport:
                nonlocal calls
                calls += 1
                return await flusher.flush(transport, now)

        async def dispatching() -> str:
            store.enqueue_email(
                establishment="e-chu",
                alert_ids=[],
                finding_keys=[],
                message_id="<held@cert-test.example>",
                sender="alertes@cert-test.example",
                recipients=["rssi@chu-test.example"],
                subject="alerte",
                message=b"Subject: alerte\r\n\r\nbody\r\n",
                now=datetime.now(UTC),
            )  # a batch committed...
            await asyncio.sleep(0.3)  # ...and the next one rendering
            return "dispatched"

        flusher.hold()
        try:
            return await Engine.flush_while(cast(Engine, Flushing()), MaildirTransport(tmp_path / "md"), dispatching())
        finally:
            store.close()

    outcome: list[tuple[str, FlushReport]] = []
    worker = threading.Thread(target=lambda: outcome.append(asyncio.run(stopping())), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert outcome, f"flush_while did not return: the flush was called {calls:,} times"
    [(result, report)] = outcome
    assert result == "dispatched" and report.sent == 0 and report.held == 1
    assert calls <= 4  # one look before the batch, one that holds, one after the dispatch (and a slow machine's)
