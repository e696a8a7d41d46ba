"""The outbox against a real SMTP server, driven through the engine with the clock passed in: a server down then
back, a recipient refused for now, a message refused for good then re-queued, and re-notification in a thread."""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from configs import copy_example
from http_server import unused_port
from smtp_server import SmtpServerFactory

from alertd.config.files import load_config
from alertd.domain.delivery import DeliveryState
from alertd.domain.settings import SmtpSecurity, SmtpSettings
from alertd.intake.fetch import Fetcher
from alertd.send.transports import SmtpTransport
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CHU = ("rssi@chu-garonne.example", "astreinte@chu-garonne.example")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    config = load_config(copy_example(tmp_path / "config"))
    return Engine(config, Store(tmp_path / "state.sqlite3"))


def poll_feodo(engine: Engine, now: datetime) -> None:
    async def go() -> None:
        async with Fetcher() as fetcher:
            await engine.poll(engine.config.feed("feodo"), fetcher, now)

    asyncio.run(go())


def flush(engine: Engine, settings: SmtpSettings, now: datetime) -> tuple[int, int, int]:
    async def go() -> tuple[int, int, int]:
        transport = SmtpTransport(settings, None)
        try:
            report = await engine.flush(transport, now)
        finally:
            await transport.close()
        return report.sent, report.retrying, report.failed

    return asyncio.run(go())


def test_server_down_then_back(engine: Engine, smtp_server: SmtpServerFactory) -> None:
    poll_feodo(engine, NOW)
    assert len(engine.dispatch(NOW)) == 3  # the CHU, the clinic, Northbridge
    down = SmtpSettings("127.0.0.1", unused_port(), SmtpSecurity.NONE, timeout=2.0)
    assert flush(engine, down, NOW) == (0, 3, 0)
    assert flush(engine, down, NOW) == (0, 0, 0)  # not due yet: back-off
    server = smtp_server(tls="none")
    assert flush(engine, server.smtp_settings(security="none"), NOW + timedelta(hours=1)) == (3, 0, 0)
    assert len(server.messages) == 3
    assert {d.state for d in engine.store.deliveries()} == {DeliveryState.SENT}


def test_a_recipient_refused_for_now_gets_the_same_message_later(
    engine: Engine, smtp_server: SmtpServerFactory
) -> None:
    poll_feodo(engine, NOW)
    engine.dispatch(NOW)
    server = smtp_server(tls="none")
    server.reject_recipient(CHU[1], "450 4.2.1 mailbox busy")
    settings = server.smtp_settings(security="none")
    assert flush(engine, settings, NOW)[0] == 3
    first = [m for m in server.messages if CHU[0] in m.rcpt_tos]
    assert len(first) == 1 and first[0].rcpt_tos == (CHU[0],)
    split = engine.store.deliveries(DeliveryState.PENDING)
    assert [d.recipients for d in split] == [(CHU[1],)] and "450 4.2.1 mailbox busy" in (split[0].last_error or "")
    server.reject_recipient(CHU[1], "250 OK")
    assert flush(engine, settings, NOW + timedelta(hours=1))[0] == 1
    again = [m for m in server.messages if CHU[1] in m.rcpt_tos]
    msg_ids = {str(email.message_from_bytes(m.content, policy=default)["Message-ID"]) for m in first + again}
    assert len(again) == 1 and len(msg_ids) == 1  # the same message, the same Message-ID


def test_refused_for_good_then_requeued(engine: Engine, smtp_server: SmtpServerFactory) -> None:
    poll_feodo(engine, NOW)
    engine.dispatch(NOW)
    server = smtp_server(tls="none")
    server.script_data("554 5.7.1 message refused")
    settings = server.smtp_settings(security="none")
    assert flush(engine, settings, NOW) == (2, 0, 1)
    (failed,) = engine.store.deliveries(DeliveryState.FAILED)
    assert "554" in (failed.last_error or "")
    assert engine.store.requeue(failed.id, NOW)
    assert flush(engine, settings, NOW) == (1, 0, 0)


def test_renotification_of_a_still_listed_finding_is_a_follow_up(engine: Engine, tmp_path: Path) -> None:
    maildir = tmp_path / "var" / "maildir" / "new"
    poll_feodo(engine, NOW)
    engine.dispatch(NOW)
    first = {d.establishment: d.message_id for d in engine.store.deliveries()}
    poll_feodo(engine, NOW + timedelta(hours=12))  # the file is unchanged; imminent re-notifies after 1 day
    assert engine.dispatch(NOW + timedelta(hours=12)) == []
    poll_feodo(engine, NOW + timedelta(days=1, hours=1))
    again = engine.dispatch(NOW + timedelta(days=1, hours=1))
    assert len(again) == 3
    assert not maildir.exists()  # nothing was flushed: the outbox holds them
    chu = next(d for d in engine.store.deliveries() if d.establishment == "000000011" and d.id in again)
    msg = email.message_from_bytes(engine.store.message(chu.id), policy=default)
    assert msg["In-Reply-To"] == first["000000011"] and str(msg["Subject"]).startswith("Re: ")


def test_a_recipient_refused_for_good_is_a_failed_delivery(engine: Engine, smtp_server: SmtpServerFactory) -> None:
    poll_feodo(engine, NOW)
    engine.dispatch(NOW)
    server = smtp_server(tls="none")
    server.reject_recipient(CHU[1], "550 5.1.1 no such user")
    assert flush(engine, server.smtp_settings(security="none"), NOW) == (3, 0, 1)
    (failed,) = engine.store.deliveries(DeliveryState.FAILED)
    assert failed.recipients == (CHU[1],) and "550 5.1.1 no such user" in (failed.last_error or "")
    sent = [d for d in engine.store.deliveries(DeliveryState.SENT) if d.establishment == "000000011"]
    assert len(sent) == 1 and sent[0].message_id == failed.message_id
