"""Benchmark (contract §7): what the acknowledgement links and page cost.

    .venv/bin/python bench/ack.py [--emails 300] [--requests 300] [--rounds 3] [--unanswered 2000]

``link``: ``--emails`` one-alert warnings rendered by ``render_message`` (CPU time, best of ``--rounds``), with the
personal link signed and shown, against the same emails without ``web`` in the same run.

``page``: the example configuration with ``web`` (copied to a temporary folder, its first cycle run by the real
``alertd run --once``), then the page served by :class:`~alertd.service.ackweb.AckWeb` on loopback: ``--requests``
GETs of an email's page and as many POSTs of a response, one connection each, against as many GETs of
``/healthz`` from alertd's health server in the same process (the same standard-library server doing nothing but
JSON).

``awaiting``: the example's sent emails copied until the store holds ``--unanswered`` sent and unanswered ones
(each with its alerts, a reference of its own), then what each health refresh of the daemon adds to count them
for ``/metrics`` (the query of the unanswered emails and their deadlines; CPU, best of ``--rounds``), against
what it already did in the same run (the outbox's counts by state and its oldest waiting email).

``escalation``: then one escalation round over those ``--unanswered`` warnings, all past their deadline (a reminder
each rendered in a worker thread, recorded and queued in batches, and the operators' "to call" email, as the daemon
runs it; CPU and wall time, once: a round escalates each warning once, and the longest the event loop went without
turning meanwhile), against rendering the same warnings (their alerts read from the store, each email with its link)
in the same run.

Prints one JSON object with the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from alertd.config.files import load_config
from alertd.policy.escalation import Awaiting, awaiting
from alertd.render.email import render_message
from alertd.service import logs
from alertd.service.ackweb import AckWeb
from alertd.service.dispatch import Dispatcher
from alertd.service.escalate import Escalator
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.metrics import Metrics
from alertd.service.setup import Prepared, prepare
from alertd.store.acks import AckBook, AckEmail, alerts_of, unanswered
from alertd.store.sqlite import Store

ROOT = Path(__file__).resolve().parent.parent

KEY = "bench key of the acknowledgement links, not a secret, 48 bytes"
BASE = "https://alertes.cert-sante.example/reponse"


def _best(rounds: int, work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def link(prepared: Prepared, email: AckEmail, emails: int, rounds: int) -> dict[str, Any]:
    """CPU per email rendered with and without the link: ``email``'s alerts, rendered ``emails`` times."""
    assert prepared.ack is not None
    links = prepared.ack
    est = prepared.config.registry.establishments[email.establishment]
    settings = prepared.config.settings.render
    now = datetime.now(UTC)

    def render(with_link: bool) -> Callable[[], None]:
        def run() -> None:
            for n in range(emails):
                reference = f"CERTSANTE-2026-ALE-{n:04d}"
                url = links.url(est.id, reference, now) if with_link else None
                render_message(prepared.templates, est, email.alerts, ["rssi@bench.example"], settings=settings,
                               now=now, message_id=f"<{n}@bench>", reference=reference, ack_url=url)  # fmt: skip

        return run

    render(True)()  # templates compiled, catalogs read
    without = _best(rounds, render(False))
    with_link = _best(rounds, render(True))
    return {
        "emails": emails,
        "alerts_per_email": len(email.alerts),
        "cpu_ms_per_email_without_link": round(without / emails * 1000, 3),
        "cpu_ms_per_email_with_link": round(with_link / emails * 1000, 3),
        "ratio_with_to_without": round(with_link / without, 3),
    }


def _timed(count: int, url: str, method: str = "GET", body: dict[str, str] | None = None) -> float:
    parts = urlsplit(url)
    data = urlencode(body).encode() if body is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    start = time.perf_counter()
    for _ in range(count):
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=10)
        conn.request(method, parts.path, body=data, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        conn.close()
    return time.perf_counter() - start


def copy_sent(state: Path, count: int) -> int:
    """Copy the store's sent emails, their alerts with them, until it holds ``count`` of them; how many it holds."""
    with contextlib.closing(sqlite3.connect(state)) as db, db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(outbox)") if r[1] != "id"]
        alert_columns = [r[1] for r in db.execute("PRAGMA table_info(alerts)") if r[1] not in ("id", "delivery")]
        sent = [r[0] for r in db.execute("SELECT id FROM outbox WHERE state = 'sent' AND reference IS NOT NULL")]
        have = len(sent)
        while have < count:
            source = sent[have % len(sent)]
            picked = ", ".join(f"{c} || '-{have}'" if c in ("reference", "message_id") else c for c in columns)
            new = db.execute(
                f"INSERT INTO outbox ({', '.join(columns)}) SELECT {picked} FROM outbox WHERE id = ?", (source,)
            ).lastrowid
            db.execute(
                f"INSERT INTO alerts ({', '.join(alert_columns)}, delivery) "
                f"SELECT {', '.join(alert_columns)}, ? FROM alerts WHERE delivery = ?",
                (new, source),
            )
            have += 1
        return have


def counting(prepared: Prepared, state: Path, unanswered_emails: int, rounds: int) -> dict[str, Any]:
    """CPU of counting the unanswered warnings at a health refresh, against the refresh's outbox reads."""
    settings = prepared.config.settings
    assert settings.web is not None
    held = copy_sent(state, unanswered_emails)
    store = Store.for_settings(settings, create=False)
    try:
        now = datetime.now(UTC)
        found: list[Awaiting] = []

        def count() -> None:
            sent = unanswered(store.db, now - settings.web.link_ttl)  # type: ignore[union-attr]
            found.append(awaiting(((u.sent, u.severity) for u in sent), settings.escalation, settings.timezone, now))

        def outbox() -> None:
            store.outbox_counts()
            store.oldest_waiting()

        counted = _best(rounds, count)
        baseline = _best(rounds, outbox)
    finally:
        store.close()
    return {
        "unanswered_emails": held,
        "awaiting": list(found[-1]),
        "count_ms": round(counted * 1000, 2),
        "outbox_reads_ms": round(baseline * 1000, 3),
        "ratio_count_to_outbox_reads": round(counted / baseline, 1) if baseline else None,
    }


async def beside_a_ticker(work: Coroutine[Any, Any, list[int]]) -> tuple[list[int], float]:
    """What ``work`` returns, and the longest the event loop went without turning meanwhile (as the daemon's
    heartbeat would see it: a coroutine sleeping 10 ms at a time)."""
    longest, done = 0.0, False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            longest, last = max(longest, now - last - 0.01), now

    ticker = asyncio.create_task(tick())
    try:
        return await work, longest
    finally:
        done = True
        await ticker


def escalating(prepared: Prepared) -> dict[str, Any]:
    """CPU and wall time of one escalation round over every unanswered warning, against rendering them."""
    store = Store.for_settings(prepared.config.settings, create=False)
    assert prepared.ack is not None
    links, registry, settings = prepared.ack, prepared.config.registry.establishments, prepared.config.settings.render
    try:
        escalator = Escalator(store, lambda: prepared, Dispatcher(store, lambda: prepared))
        now = datetime.now(UTC) + timedelta(days=1)  # every imminent warning past its 4 h
        warnings = escalator.due(now)
        due = len(warnings)
        rendering = time.process_time()
        for n, u in enumerate(warnings):
            alerts = alerts_of(store.db, u.reference)
            est = registry[alerts[0].finding.establishment]
            render_message(prepared.templates, est, alerts, ["rssi@bench.example"], settings=settings,
                           now=now, message_id=f"<{n}@bench>", reference=u.reference,
                           ack_url=links.url(est.id, u.reference, now))  # fmt: skip
        rendering = time.process_time() - rendering
        cpu, wall = time.process_time(), time.perf_counter()
        queued, stall = asyncio.run(beside_a_ticker(escalator.escalate_off_loop(now)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        store.close()
    return {
        "warnings_due": due,
        "emails_queued": len(queued),
        "round_cpu_s": round(cpu, 3),
        "round_wall_s": round(wall, 3),
        "loop_longest_stall_ms": round(stall * 1000, 1),
        "cpu_ms_per_warning": round(cpu / max(due, 1) * 1000, 3),
        "rendering_cpu_s": round(rendering, 3),
        "ratio_round_cpu_to_rendering": round(cpu / rendering, 2) if rendering else None,
    }


def measure(emails: int, requests: int, rounds: int, unanswered_emails: int) -> dict[str, Any]:
    """The link's rendering cost, then requests per second of the page (GET, POST) and of /healthz, on loopback,
    then the unanswered warnings' count against the rest of a health refresh."""
    folder = Path(tempfile.mkdtemp(prefix="alertd-bench-ack-"))
    try:
        config_dir = folder / "config"
        shutil.copytree(ROOT / "config", config_dir)
        (config_dir / "ack.key").write_text(KEY + "\n")
        config = config_dir / "alertd.yaml"
        text = config.read_text()
        text = text[: text.index("\nweb:") + 1]  # the example's own section (the last one) replaced
        config.write_text(
            text + f"web: {{listen: '127.0.0.1:0', base_url: '{BASE}', key_file: ack.key, rate_limit: 100000/minute}}\n"
        )
        alertd = str(Path(sys.executable).parent / "alertd")
        subprocess.run([alertd, "-c", str(config), "run", "--once"], check=True, capture_output=True)
        prepared = prepare(load_config(config))
        settings = prepared.config.settings
        assert settings.web is not None and prepared.ack is not None
        state = settings.state_dir / "alertd.sqlite3"
        with contextlib.closing(sqlite3.connect(state)) as db:
            (reference,) = db.execute("SELECT reference FROM outbox WHERE reference IS NOT NULL LIMIT 1").fetchone()
        book = AckBook(state)
        email = book.email(reference)
        assert email is not None
        rendering = link(prepared, email, emails, rounds)
        token = prepared.ack.url(email.establishment, email.reference, datetime.now(UTC)).rpartition("/")[2]
        web = AckWeb(settings.web, book, lambda: prepared)
        snapshot = HealthSnapshot()
        health = HealthServer("127.0.0.1:0", snapshot, Metrics(snapshot.last_success, snapshot.outbox))
        web.start()
        health.start()
        try:
            url = f"{web.url}/reponse/{token}"
            _timed(20, url)  # warm
            get = _timed(requests, url)
            conn = http.client.HTTPConnection(str(urlsplit(url).hostname), urlsplit(url).port, timeout=10)
            conn.request("GET", urlsplit(url).path)
            html = conn.getresponse().read().decode()
            conn.close()
            form = html.split('name="form" value="', 1)[1].split('"', 1)[0]
            post = _timed(requests, url, "POST", {"form": form, "response": "seen"})
            _timed(20, f"{health.url}/healthz")
            healthz = _timed(requests, f"{health.url}/healthz")
        finally:
            web.stop()
            health.stop()
            book.close()
        awaited = counting(prepared, state, unanswered_emails, rounds)
        escalated = escalating(prepared)
        return {
            "link": rendering,
            "awaiting": awaited,
            "escalation": escalated,
            "page": {
                "requests": requests,
                "page_get_per_s": round(requests / get, 1),
                "page_post_per_s": round(requests / post, 1),
                "healthz_get_per_s": round(requests / healthz, 1),
                "ratio_page_get_to_healthz": round(healthz / get, 3),
                "ratio_page_post_to_healthz": round(healthz / post, 3),
            },
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--unanswered", type=int, default=2000)
    args = parser.parse_args(argv)
    logs.configure("warning")
    load_before = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "ack",
        **measure(args.emails, args.requests, args.rounds, args.unanswered),
        "loadavg": {"before": list(load_before), "after": list(os.getloadavg())},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
