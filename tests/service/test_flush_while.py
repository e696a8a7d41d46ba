"""``run --once`` sends each batch of emails while the next ones render (``Engine.flush_while``): the first
warnings of a mass event leave before the last are made, and each goes once."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from configs import numbered_world
from smtp_server import SmtpServerFactory

from alertd.config.files import load_config
from alertd.service.daemon import run_cycle
from alertd.service.dispatch import BATCH_EMAILS
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
