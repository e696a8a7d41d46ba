"""Escalation (contract §4, "Acknowledgements"): on the store the real ``alertd run --once`` wrote for the example,
the daemon's escalation job on a clock the test moves sends each imminent warning left unanswered past its
deadline once more, to its establishment's escalation contacts, and the operators one "to call" email with the
registry's phones; a response before the deadline stops it, a restart does not send it again, a response through
the reminder answers the warning; ``alertd history`` and ``/metrics`` show it."""

from __future__ import annotations

import asyncio
import email
import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from configs import alertd, example_with_web

from alertd.config.files import load_config
from alertd.domain.acknowledgement import AckResponse
from alertd.service.daemon import Daemon
from alertd.store.acks import Ack, AckBook, Unanswered, unanswered
from alertd.store.codecs import encode_time

BASE = "https://alertes.cert-sante.example/reponse"
OPERATOR = "veille@cert-sante.example"
CHU, CHU_CRISIS, CHU_PHONE = "000000011", "crise@chu-garonne.example", "+33 5 00 00 00 11"
CLINIC_PHONE = "+33 5 00 00 00 22"


class Clock:
    """The wall clock the daemon reads, moved by the test."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


def with_escalation(config: Path) -> Path:
    """The example with an escalation contact and phones in its registry, and an operators' address."""
    registry = config.parent / "establishments" / "example.yaml"
    text = registry.read_text()
    on_call = "      - {email: astreinte@chu-garonne.example, role: on-call, min_severity: imminent}\n"
    crisis = f'      - {{email: {CHU_CRISIS}, role: escalation, phone: "{CHU_PHONE}"}}\n'
    text = text.replace(on_call, on_call + crisis)
    clinic = "      - {email: securite@clinique-exupery.example}\n"
    text = text.replace(clinic, f'      - {{email: securite@clinique-exupery.example, phone: "{CLINIC_PHONE}"}}\n')
    registry.write_text(text)
    config.write_text(config.read_text() + f"operators: [{OPERATOR}]\n")
    return config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    made = with_escalation(example_with_web(tmp_path / "config", BASE))
    ran = alertd(made, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    return made


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr("alertd.service.daemon.utcnow", made.now)
    return made


def start(config: Path) -> Daemon:
    return Daemon(config, load_config(config))


def imminent(daemon: Daemon, clock: Clock) -> list[Unanswered]:
    found = [u for u in unanswered(daemon.store.db, clock.now() - timedelta(days=1)) if u.severity.label == "imminent"]
    assert found  # the example's emails each hold an imminent warning
    return found


def escalations(state: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(state)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM escalations ORDER BY reference").fetchall()
    finally:
        db.close()


def mails(config: Path) -> list[EmailMessage]:
    """The emails in the outbox, in the order they were queued (those the test's clock queued wait for it to send)."""
    db = sqlite3.connect(load_config(config).settings.state_dir / "alertd.sqlite3")
    try:
        rows = db.execute("SELECT message FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()
    found = []
    for (raw,) in rows:
        msg = email.message_from_bytes(raw, policy=default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_a_warning_unanswered_past_its_deadline_is_escalated_once(config: Path, clock: Clock) -> None:
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        before = len(mails(config))
        asyncio.run(daemon.escalation_job())  # before the deadline: nothing
        assert escalations(daemon.store.path) == []
        clock.at = max(u.sent for u in warnings) + timedelta(hours=4, minutes=1)
        asyncio.run(daemon.escalation_job())
        asyncio.run(daemon.escalation_job())  # the next round finds nothing more to escalate
        rows = escalations(daemon.store.path)
        assert sorted(r["reference"] for r in rows) == sorted(u.reference for u in warnings)
        metrics = daemon.metrics.render()[0].decode()
        assert f'alertd_escalations_total{{severity="imminent"}} {float(len(warnings))}' in metrics
    finally:
        daemon.store.close()
    sent = mails(config)[before:]
    assert len(sent) == len(warnings) + 1  # one reminder each, and one "to call" email
    reminders = [m for m in sent if OPERATOR not in str(m["To"])]
    for row in rows:
        reminder = next(m for m in reminders if f"[{row['reminder']}]" in str(m["Subject"]))
        text = text_of(reminder)
        assert row["reference"] in text and BASE + "/" in text  # the warning it escalates, and its own link
        others = [r["reference"] for r in rows if r["reference"] != row["reference"]]
        assert not any(other in text for other in others)  # never another establishment's warning
        if row["establishment"] == CHU:
            assert str(reminder["To"]) == CHU_CRISIS  # its escalation contact only
            assert "Relance" in str(reminder["Subject"])
        assert CHU_PHONE not in text and CLINIC_PHONE not in text

    history = alertd(config, "history")
    assert history.returncode == 0, history.stderr
    for row in rows:
        assert f"in {row['reference']} " in history.stdout
    assert history.stdout.count("; escalated at ") >= len(rows)


def test_the_to_call_email_lists_each_warning_with_its_phones(config: Path, clock: Clock) -> None:
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        clock.at = max(u.sent for u in warnings) + timedelta(hours=5)
        asyncio.run(daemon.escalation_job())
        rows = escalations(daemon.store.path)
    finally:
        daemon.store.close()
    to_call = [m for m in mails(config) if str(m["To"]) == OPERATOR]
    assert len(to_call) == 1
    text = text_of(to_call[0])
    assert "to call" in str(to_call[0]["Subject"])
    for row in rows:
        assert row["reference"] in text
    escalated = {r["establishment"] for r in rows}
    if CHU in escalated:
        assert CHU_PHONE in text and CHU_CRISIS in text
    assert (CLINIC_PHONE in text) == ("000000022" in escalated)
    assert "sent 5 h 0 min ago" in text or "ago:" in text


def test_a_response_before_the_deadline_stops_the_escalation(config: Path, clock: Clock) -> None:
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        book = AckBook(daemon.store.path)
        try:
            book.record(Ack(CHU, warnings[0].reference, AckResponse.SEEN, "", clock.now(), "127.0.0.1"))
        finally:
            book.close()
        clock.at = max(u.sent for u in warnings) + timedelta(hours=4, minutes=1)
        asyncio.run(daemon.escalation_job())
        references = [r["reference"] for r in escalations(daemon.store.path)]
    finally:
        daemon.store.close()
    assert warnings[0].reference not in references
    assert sorted(references) == sorted(u.reference for u in warnings[1:])


def test_a_restart_does_not_escalate_again_and_a_response_to_the_reminder_answers_the_warning(
    config: Path, clock: Clock
) -> None:
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        clock.at = max(u.sent for u in warnings) + timedelta(hours=4, minutes=1)
        asyncio.run(daemon.escalation_job())
        first = escalations(daemon.store.path)
    finally:
        daemon.store.close()
    count = len(mails(config))
    clock.at += timedelta(hours=4)
    again = start(config)
    try:
        asyncio.run(again.escalation_job())
        assert escalations(again.store.path) == first
        assert len(mails(config)) == count
        book = AckBook(again.store.path)
        try:
            row = first[0]
            book.record(Ack(row["establishment"], row["reminder"], AckResponse.FIXED, "", clock.now(), "127.0.0.1"))
            assert [a.response for a in book.responses(row["reference"])] == [AckResponse.FIXED]
        finally:
            book.close()
    finally:
        again.store.close()


def test_an_inventory_is_not_escalated(config: Path, clock: Clock) -> None:
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        with daemon.store.transaction() as db:  # the first email made an inventory: backlog, nothing new
            db.execute(
                "UPDATE alerts SET inventory = 1 WHERE delivery IN (SELECT id FROM outbox WHERE reference = ?)",
                (warnings[0].reference,),
            )
        clock.at = max(u.sent for u in warnings) + timedelta(hours=5)
        asyncio.run(daemon.escalation_job())
        references = [r["reference"] for r in escalations(daemon.store.path)]
    finally:
        daemon.store.close()
    assert sorted(references) == sorted(u.reference for u in warnings[1:])


def copied(daemon: Daemon, warnings: list[Unanswered], times: int) -> int:
    """Each warning's email and alerts copied ``times`` over under references of their own (a mass event's round of
    warnings due at once); how many warnings there are now."""
    with daemon.store.transaction() as db:
        for warning in warnings:
            (delivery,) = db.execute("SELECT id FROM outbox WHERE reference = ?", (warning.reference,)).fetchone()
            for n in range(times):
                copy = db.execute(
                    "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, "
                    "attempts, next_attempt, created, sent_at, reference) SELECT message_id || ?, establishment, "
                    "sender, recipients, subject, message, state, attempts, next_attempt, created, sent_at, "
                    "reference || ? FROM outbox WHERE id = ?",
                    (f".{n}", f"-{n}", delivery),
                ).lastrowid
                db.execute(
                    "INSERT INTO alerts (finding, establishment, severity, subscription, immediate, body, created, "
                    "delivery, inventory) SELECT finding, establishment, severity, subscription, immediate, body, "
                    "created, ?, inventory FROM alerts WHERE delivery = ?",
                    (copy, delivery),
                )
    return len(warnings) * (times + 1)


def test_the_loop_keeps_turning_through_a_round_of_hundreds_of_warnings(
    config: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reminders render in worker threads: a coroutine beside the escalation job (as the daemon's heartbeat
    and health check are) gets a turn at least once per reminder before the round hands them to delivery."""
    daemon = start(config)
    try:
        warnings = imminent(daemon, clock)
        due = copied(daemon, warnings, 200 // len(warnings))
        clock.at = max(u.sent for u in warnings) + timedelta(hours=4, minutes=1)
        ticks = 0
        at_delivery: list[int] = []

        async def deliver(*, immediate: bool) -> bool:  # what the round queued is sent later: ticks counted so far
            at_delivery.append(ticks)
            return True

        async def round_beside_a_ticker() -> None:
            nonlocal ticks
            stop = asyncio.Event()

            async def tick() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            ticker = asyncio.create_task(tick())
            await daemon.escalation_job()
            stop.set()
            await ticker

        monkeypatch.setattr(daemon, "deliver", deliver)
        asyncio.run(round_beside_a_ticker())
        rows = escalations(daemon.store.path)
    finally:
        daemon.store.close()
    assert len(rows) == due >= 200
    assert len(at_delivery) == 1 and at_delivery[0] >= due  # the loop turned between the reminders, not after


def test_run_once_escalates_the_warnings_past_their_deadline(config: Path) -> None:
    """``alertd run --once`` runs the same round (off its event loop, as the daemon does)."""
    state = load_config(config).settings.state_dir / "alertd.sqlite3"
    db = sqlite3.connect(state)
    try:
        with db:  # the example's emails sent 5 h ago: their imminent warnings are past the default 4 h
            for row_id, sent in db.execute("SELECT id, sent_at FROM outbox WHERE sent_at IS NOT NULL").fetchall():
                earlier = datetime.fromisoformat(sent) - timedelta(hours=5)
                db.execute("UPDATE outbox SET sent_at = ? WHERE id = ?", (encode_time(earlier), row_id))
        due = [u for u in unanswered(db, datetime.now(UTC) - timedelta(days=1)) if u.severity.label == "imminent"]
    finally:
        db.close()
    assert due
    ran = alertd(config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    assert sorted(r["reference"] for r in escalations(state)) == sorted(u.reference for u in due)
    assert sum(OPERATOR in str(m["To"]) for m in mails(config)) == 1  # the round's "to call" email
