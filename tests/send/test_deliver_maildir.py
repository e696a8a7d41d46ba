"""MaildirTransport: messages land once each, readable by any Maildir reader, under ``new/``."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import pytest

from alertd.domain.errors import PermanentDeliveryError, TemporaryDeliveryError
from alertd.send.transports import MAILDIR_CONCURRENCY, MaildirTransport, SendResult

SENDER = "alertes@cert-sante.example"


def _message(n: int) -> bytes:
    return (
        f"From: CERT Sante <{SENDER}>\r\n"
        "To: rssi@chu-bordeaux.example, astreinte@chu-bordeaux.example\r\n"
        f"Subject: [TLP:AMBER] alert {n}\r\n"
        f"Message-ID: <alert-{n}@cert-sante.example>\r\n"
        "\r\n"
        f"body {n}\r\n"
    ).encode()


def _deliver(transport: MaildirTransport, messages: list[bytes], recipients: list[str]) -> list[SendResult]:
    async def go() -> list[SendResult]:
        try:
            return list(await asyncio.gather(*(transport.send(m, SENDER, recipients) for m in messages)))
        finally:
            await transport.close()

    return asyncio.run(go())


def test_messages_are_written_once_each_and_read_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "state" / "maildir"
    messages = [_message(n) for n in range(3)]
    results = _deliver(
        MaildirTransport(path), messages, ["rssi@chu-bordeaux.example", "astreinte@chu-bordeaux.example"]
    )

    assert all(r.refused == {} for r in results)
    box = mailbox.Maildir(path, create=False)
    assert sorted(box.get_bytes(key) for key in box.iterkeys()) == sorted(messages)
    # One file per message whatever the number of recipients, delivered to new/ (tmp/ left empty).
    assert len(list((path / "new").iterdir())) == 3
    assert list((path / "tmp").iterdir()) == []
    assert {r.reply.removeprefix("maildir key ") for r in results} == set(box.keys())


def test_many_concurrent_sends_get_distinct_files(tmp_path: Path) -> None:
    messages = [_message(n) for n in range(40)]
    _deliver(MaildirTransport(tmp_path / "md"), messages, ["rssi@chu-bordeaux.example"])
    box = mailbox.Maildir(tmp_path / "md", create=False)
    assert len(box) == 40
    assert box[next(iter(box.keys()))]["Subject"].startswith("[TLP:AMBER] alert ")


def test_an_existing_empty_folder_becomes_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "md").mkdir()
    _deliver(MaildirTransport(tmp_path / "md"), [_message(1)], ["rssi@chu-bordeaux.example"])
    assert [m.get_payload(decode=True) for m in mailbox.Maildir(tmp_path / "md", create=False)] == [b"body 1\n"]


def test_an_unwritable_place_is_a_temporary_failure(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    transport = MaildirTransport(tmp_path / "file" / "maildir")
    with pytest.raises(TemporaryDeliveryError, match=r"maildir .*/file/maildir: cannot write the message"):
        _deliver(transport, [_message(1)], ["rssi@chu-bordeaux.example"])


def test_no_recipient_is_a_permanent_failure(tmp_path: Path) -> None:
    with pytest.raises(PermanentDeliveryError, match="no recipient"):
        _deliver(MaildirTransport(tmp_path / "md"), [_message(1)], [])
    assert not (tmp_path / "md").exists()


def test_describe_names_the_folder(tmp_path: Path) -> None:
    assert MaildirTransport(tmp_path / "md").describe() == f"maildir {tmp_path / 'md'}"


def test_the_transport_declares_how_many_writes_may_run_at_once(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "md")
    assert transport.concurrency == MAILDIR_CONCURRENCY == 8
    _deliver(transport, [_message(n) for n in range(2 * transport.concurrency)], ["rssi@chu-bordeaux.example"])
    assert len(mailbox.Maildir(tmp_path / "md", create=False)) == 2 * transport.concurrency
