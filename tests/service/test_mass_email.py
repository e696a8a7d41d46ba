"""A mass event stays under the message size limit (issue #13 point 2): 8,000 C2 rows in one /19 through the real
engine, a real store and a Maildir become one summary email, never a 56 MB one a relay would refuse.

The feed is the real Feodo Tracker blocklist's layout (tests/data/abusech), its rows written for the test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import mailbox
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from textwrap import dedent

import pytest

from alertd.config.files import load_config
from alertd.intake.fetch import Fetcher
from alertd.send.transports import make_transport
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROWS = 8000
HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'


def blocklist(rows: int) -> str:
    """A Feodo Tracker blocklist listing ``rows`` C2 servers, all in 154.12.224.0/19 (8,192 addresses)."""
    lines = [
        f'"2026-03-01 {i % 24:02d}:{i % 60:02d}:00","154.12.{224 + i // 256}.{i % 256}","{443 + i % 7000}",'
        f'"online","2026-03-02","{("Dridex", "QakBot", "Emotet", "Pikabot")[i % 4]}"\n'
        for i in range(rows)
    ]
    return "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)\n#\n" + HEADER + "".join(lines)


def configure(tmp: Path, limit: int | None, rows: int = ROWS) -> Path:
    (tmp / "feodo.csv").write_text(blocklist(rows))
    (tmp / "establishments.yaml").write_text(
        "establishments:\n  - id: e-clinic\n    name: Test Clinic\n    language: en\n"
        "    contacts: [{email: security@clinic-test.example}]\n    networks: [154.12.224.0/19]\n"
    )
    (tmp / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: all, establishments: all, min_severity: info, delivery: immediate}\n"
    )
    (tmp / "feeds.yaml").write_text(
        f"feeds:\n  - {{id: feodo, url: 'file://{tmp / 'feodo.csv'}', format: csv, kind: compromise, "
        "interval: 30m, backlog_after: never, columns: {ip: dst_ip, port: dst_port, first_seen: first_seen_utc, "
        "malware: malware, status: c2_status, last_seen: last_online}}\n"
    )
    size = f", max_message_bytes: {limit}" if limit else ""
    config = tmp / "alertd.yaml"
    config.write_text(
        dedent(
            f"""\
            state_dir: state
            feeds: feeds.yaml
            registry: establishments.yaml
            subscriptions: subscriptions.yaml
            operators: [soc@cert-test.example]
            sender: {{from: "CERT Test <alertes@cert-test.example>"}}
            delivery: {{method: maildir, maildir: maildir{size}}}
            """
        )
    )
    return config


def run(config_file: Path, rows: int = ROWS) -> tuple[list[EmailMessage], list[int], Engine]:
    """Poll the feed, dispatch off the loop, queue the operators' notice, deliver to the Maildir; the messages
    delivered and their sizes as sent."""
    config = load_config(config_file)
    store = Store.in_state_dir(config.settings.state_dir)
    engine = Engine(config, store)

    async def cycle() -> None:
        async with Fetcher(trust_env=False) as fetcher:
            report = await engine.poll(config.feeds[0], fetcher, NOW)
        assert report.ok and report.alerts == rows, report
        assert len(await engine.dispatch_off_loop(NOW)) == 1  # one summary email, not one per block of rows
        engine.notify_operators(NOW)
        transport = make_transport(config.settings)
        try:
            await engine.flush(transport, NOW)
        finally:
            await transport.close()

    try:
        asyncio.run(cycle())
    finally:
        store.close()
    box = mailbox.Maildir(config.settings.maildir, create=False)
    raw = [box.get_bytes(key) for key in box.iterkeys()]
    messages = [message_from_bytes(b, policy=policy.default) for b in raw]
    return [m for m in messages if isinstance(m, EmailMessage)], [len(b) for b in raw], engine


def part(msg: EmailMessage, filename: str) -> bytes:
    found = next(p for p in msg.iter_attachments() if p.get_filename() == filename)
    payload = found.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.slow
def test_8000_c2_rows_in_one_network_are_one_summary_email_under_10_mb(tmp_path: Path) -> None:
    messages, sizes, _engine = run(configure(tmp_path, None))
    assert max(sizes) < 10_000_000
    (warning,) = [m for m in messages if "clinic" in str(m["To"])]
    text = text_of(warning)
    assert f"Summary of a mass event: {ROWS} alerts, too many for one message" in text
    assert "did not fit" not in text  # 10 MB carry every row, in findings.csv (the JSON would pass the limit)
    assert [p.get_filename() for p in warning.iter_attachments()] == ["findings.csv"]
    rows = list(csv.DictReader(io.StringIO(part(warning, "findings.csv").decode("utf-8-sig"))))
    assert len(rows) == ROWS
    assert {r["indicator_raw"] for r in rows} == {f"154.12.{224 + i // 256}.{i % 256}" for i in range(ROWS)}
    assert rows[0]["indicator"].count("[.]") == 3  # defanged, as the email shows it


@pytest.mark.slow
def test_a_mass_email_over_a_small_limit_is_cut_and_the_operators_are_told(tmp_path: Path) -> None:
    limit, rows = 500_000, 2000  # 2,000 rows take ~1 MB as findings.csv alone
    messages, sizes, _engine = run(configure(tmp_path, limit, rows), rows)
    assert max(sizes) < limit
    (warning,) = [m for m in messages if "clinic" in str(m["To"])]
    text = " ".join(text_of(warning).split())
    carried = len(list(csv.DictReader(io.StringIO(part(warning, "findings.csv").decode("utf-8-sig")))))
    assert 0 < carried < rows
    left = rows - carried
    assert f"{left} alerts, the least severe, did not fit in the attachments either" in text
    assert "whose operators will send them on request" in text
    assert int(str(warning["X-Alertd-Left-Out"])) == left
    (notice,) = [m for m in messages if "soc@" in str(m["To"])]
    assert f"{left} of {rows} alerts left out" in text_of(notice)
