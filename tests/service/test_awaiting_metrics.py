"""``/metrics`` counts the warnings left unanswered (contract §4 and §6): the daemon, on the store the real
``alertd run --once`` wrote for the example, on a clock the test moves; a response takes a warning out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from configs import alertd, example_with_web

from alertd.config.files import load_config
from alertd.domain.acknowledgement import AckResponse
from alertd.service.daemon import AWAITING_EVERY_S, Daemon
from alertd.store.acks import Ack, AckBook, unanswered

BASE = "https://alertes.cert-sante.example/reponse"


class Clock:
    """The wall clock the daemon reads, and its monotonic one, moved by the test."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Daemon, Clock]]:
    config = example_with_web(tmp_path / "config", BASE)
    ran = alertd(config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    clock = Clock()
    monkeypatch.setattr("alertd.service.daemon.utcnow", clock.now)
    made = Daemon(config, load_config(config))
    made.monotonic = clock.monotonic
    try:
        yield made, clock
    finally:
        made.store.close()


def gauges(daemon: Daemon, clock: Clock, *, after: float = AWAITING_EVERY_S) -> tuple[float, float]:
    """The two gauges after a health refresh ``after`` seconds (monotonic) since the last."""
    clock.mono += after
    daemon.refresh_health()
    values = {}
    for line in daemon.metrics.render()[0].decode().splitlines():
        name, _, value = line.partition(" ")
        if name in ("alertd_warnings_awaiting_acknowledgement", "alertd_warnings_escalation_due"):
            values[name] = float(value)
    return values["alertd_warnings_awaiting_acknowledgement"], values["alertd_warnings_escalation_due"]


def test_unanswered_imminent_warnings_are_counted_and_due_after_four_hours(daemon: tuple[Daemon, Clock]) -> None:
    made, clock = daemon
    sent = unanswered(made.store.db, clock.now() - timedelta(days=1))
    imminent = [u for u in sent if u.severity.label == "imminent"]
    assert imminent  # the example's emails each hold an imminent warning (the others are not escalated by default)
    assert gauges(made, clock) == (len(imminent), 0)
    clock.at = max(u.sent for u in imminent) + timedelta(hours=4)
    assert gauges(made, clock, after=1) == (len(imminent), 0)  # counted again once a minute, not at every refresh
    assert gauges(made, clock) == (len(imminent), len(imminent))

    book = AckBook(made.store.path)
    try:
        book.record(Ack("x", imminent[0].reference, AckResponse.SEEN, "", clock.now(), "127.0.0.1"))
    finally:
        book.close()
    assert gauges(made, clock) == (len(imminent) - 1, len(imminent) - 1)  # a response stops it
    clock.at += made.engine.config.settings.web.link_ttl  # type: ignore[union-attr]
    assert gauges(made, clock) == (0, 0)  # past the link's life nobody can answer any more
