"""Benchmark (contract §7): ``alertd report`` over a year of warnings.

    .venv/bin/python bench/report.py [--warnings 100000] [--establishments 3000] [--rounds 3] [--message-bytes 22000]

Generates a store holding a year (2026) of ``--warnings`` alerts sent to ``--establishments`` establishments,
one to three per email (about one in ten a re-notification), and the year before with half as many; about 60 %
of the emails answered, a few hundred "not us" responses and proposals; the knowledge says half the CVEs are
exploited; written by ``executemany`` in one transaction through alertd's own schema. Each email's message is
``--message-bytes`` long (a real warning email is about 22 KB: padding, as the report never reads it, but SQLite
walks past it when a query reads a column stored after it). The registry gives each establishment a region and a
FINESS category.

Then, timed from outside (best of ``--rounds``): ``alertd report --format json`` and ``--format html`` for the
year with ``--compare-previous``, against ``alertd history --limit 1`` over the same configuration and store: the
same start, configuration and store opening, with a query that reads one row, so the ratio is what the report
itself costs beyond any command. Then the JSON report once more with the store evicted from the page cache
(``posix_fadvise(DONTNEED)`` on its file: a yearly report is run cold), and the same for the baseline. Then the
report's SQL alone in one process (``figures`` for both years on a bare
connection), with the report's indexes and with them dropped (last, in the same store): what the indexes buy.

Prints one JSON object with the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from alertd.domain.acknowledgement import AckResponse
from alertd.domain.codes import MatchReason
from alertd.domain.delivery import DeliveryState
from alertd.domain.report import Period
from alertd.domain.values import FeedKind, Severity
from alertd.store.codecs import encode_time
from alertd.store.reporting import figures
from alertd.store.sqlite import Store

ALERTD = str(Path(sys.executable).parent / "alertd")
PARIS = ZoneInfo("Europe/Paris")
REGIONS = ("Occitanie", "Nouvelle-Aquitaine", "Île-de-France", "Bretagne", "Grand Est", "Normandie", "Hauts-de-France")
CATEGORIES = ("355", "101", "106", "365", "128", "500")
# (feed, feed kind, reason, severity, indicator type), weighted as a CERT's year might be.
SHAPES = [
    ("feodo", FeedKind.COMPROMISE, MatchReason.ADDRESS_IN_NETWORK, Severity.IMMINENT, "ipv4"),
    ("feodo", FeedKind.COMPROMISE, MatchReason.ADDRESS_IN_NETWORK, Severity.IMMINENT, "ipv4"),
    ("urlhaus", FeedKind.COMPROMISE, MatchReason.DOMAIN, Severity.IMMINENT, "url"),
    ("shadowserver", FeedKind.EXPOSURE, MatchReason.ADDRESS_IN_NETWORK, Severity.CRITICAL, "ipv4"),
    ("kev", FeedKind.VULNERABILITY, MatchReason.KEV_PRODUCT, Severity.CRITICAL, "cve"),
    ("kev", FeedKind.VULNERABILITY, MatchReason.KEV_PRODUCT, Severity.CRITICAL, "cve"),
    ("nvd", FeedKind.VULNERABILITY, MatchReason.CVE_PRODUCT, Severity.HIGH, "cve"),
    ("ransomlook", FeedKind.LEAK, MatchReason.NAME_MENTION, Severity.IMMINENT, "name"),
    ("certfr", FeedKind.ADVISORY, MatchReason.PRODUCT_MENTION, Severity.INFO, "product"),
]
MALWARE = ("Pikabot", "QakBot", "Emotet", "IcedID", "Bumblebee", "Latrodectus", "Lumma", "RedLine", "AsyncRAT")
INDEXES = ("outbox_sent", "outbox_created", "alerts_report", "acks_at", "proposals_at")


def _body(rng: random.Random, est: str, n: int) -> tuple[str, int]:
    """An alert's stored JSON (the fields the store writes, a realistic size) and its severity."""
    feed, kind, reason, severity, itype = rng.choice(SHAPES)
    value = f"CVE-2024-{rng.randint(1, 60):04d}" if itype == "cve" else f"10.{n % 250}.{n % 7}.{n % 200}"
    attrs = {"malware": rng.choice(MALWARE), "port": "443"} if kind is FeedKind.COMPROMISE else {}
    finding = {
        "establishment": est,
        "indicator": [itype, value],
        "asset": "10.0.0.0/8",
        "reason": reason.value,
        "feed": feed,
        "kind": kind.value,
        "entry": f"{feed}:{n}",
        "title": "Botnet C2 server reported by the feed, seen communicating with the establishment's network",
        "link": f"https://{feed}.example/browse/{n}",
        "published": "2026-01-01T00:00:00+00:00",
        "attrs": attrs,
        "tlp": "amber",
    }
    body = {
        "finding": finding,
        "severity": severity.label,
        "rule": {"kind": "compromise-reported"},
        "subscription": "all",
        "immediate": True,
        "first_seen": "2026-01-01T00:00:00+00:00",
        "last_seen": "2026-01-01T00:00:00+00:00",
        "tlp": "amber",
        "follow_up": rng.random() < 0.1,
        "inventory": False,
    }
    return json.dumps(body), int(severity)


def generate(folder: Path, warnings: int, establishments: int, message_bytes: int) -> Path:
    """The configuration and the store; the path of alertd.yaml."""
    rng = random.Random(18)
    ids = [f"{330_000_000 + i:09d}" for i in range(establishments)]
    registry = ["establishments:"]
    for i, est in enumerate(ids):
        registry.append(
            f'  - {{id: "{est}", name: Etablissement {i}, region: "{REGIONS[i % len(REGIONS)]}", '
            f'category: "{CATEGORIES[i % len(CATEGORIES)]}", networks: [10.{i // 250 % 250}.{i % 250}.0/24], '
            f"contacts: [{{email: rssi{i}@etab.example}}]}}"
        )
    (folder / "establishments.yaml").write_text("\n".join(registry) + "\n", encoding="utf-8")
    (folder / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    (folder / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: all, establishments: all, min_severity: info, delivery: immediate}\n",
        encoding="utf-8",
    )
    (folder / "alertd.yaml").write_text(
        "state_dir: state\ntimezone: Europe/Paris\nfeeds: feeds.yaml\nregistry: establishments.yaml\n"
        "subscriptions: subscriptions.yaml\noperators: [soc@cert.example]\n"
        'sender: {from: "CERT <alertes@cert.example>"}\ndelivery: {method: maildir, maildir: maildir}\n',
        encoding="utf-8",
    )
    (folder / "state").mkdir()
    path = folder / "state" / "alertd.sqlite3"
    Store(path).close()
    db = sqlite3.connect(path)
    outbox: list[tuple[object, ...]] = []
    alerts: list[tuple[object, ...]] = []
    acks: list[tuple[object, ...]] = []
    proposals: list[tuple[object, ...]] = []
    email_id = alert_id = 0
    sent_state, failed, pending = str(DeliveryState.SENT), str(DeliveryState.FAILED), str(DeliveryState.PENDING)
    for year, count in ((2026, warnings), (2025, warnings // 2)):
        start = datetime(year, 1, 1, tzinfo=UTC)
        told = 0
        while told < count:
            email_id += 1
            est = rng.choice(ids)
            at = start + timedelta(seconds=rng.randrange(365 * 86400))
            state = rng.choices((sent_state, failed, pending), (0.985, 0.01, 0.005))[0]
            attempts = 1 if rng.random() < 0.95 else rng.randint(2, 5)
            reference = f"CERT-{year}-ALE-{email_id:06d}"
            when = encode_time(at)
            outbox.append(
                (email_id, f"<m{email_id}@cert.example>", est, state, attempts, when, when,
                 when if state == sent_state else None, reference)
            )  # fmt: skip
            for _ in range(rng.choice((1, 1, 2, 3))):
                alert_id += 1
                body, severity = _body(rng, est, alert_id)
                alerts.append((alert_id, f"f{alert_id}", est, severity, body, when, email_id))
                told += 1
            if state == sent_state and rng.random() < 0.6:
                response = AckResponse.NOT_US if rng.random() < 0.01 else AckResponse.SEEN
                answered = at + timedelta(seconds=rng.randrange(60, 3 * 86400))
                acks.append((len(acks) + 1, est, reference, str(response), encode_time(answered)))
                if response is AckResponse.NOT_US:
                    proposals.append((len(acks), est, reference, encode_time(answered)))
    with db:
        db.executemany(
            "INSERT INTO outbox (id, message_id, establishment, sender, recipients, subject, message, state, "
            "attempts, next_attempt, created, sent_at, reference) VALUES (?, ?, ?, 'alertes@cert.example', "
            "'[\"rssi@etab.example\"]', 'Alerte', zeroblob(?), ?, ?, ?, ?, ?, ?)",
            [(*row[:3], message_bytes, *row[3:]) for row in outbox],
        )
        db.executemany(
            "INSERT INTO knowledge (cve, feed, entry, body, updated) VALUES (?, 'kev', ?, ?, '')",
            [
                (cve, cve, json.dumps({"cvss": None, "epss": None, "exploited": True, "products": []}))
                for cve in (f"CVE-2024-{n:04d}" for n in range(1, 61, 2))
            ],
        )
        db.executemany(
            "INSERT INTO alerts (id, finding, establishment, severity, subscription, immediate, body, created, "
            "delivery) VALUES (?, ?, ?, ?, 'all', 1, ?, ?, ?)",
            alerts,
        )
        db.executemany(
            "INSERT INTO acks (id, establishment, reference, response, at, source) VALUES (?, ?, ?, ?, ?, '127.0.0.1')",
            acks,
        )
        db.executemany(
            "INSERT INTO proposals (ack, establishment, reference, indicator, type, feed, comment, at, source) "
            "VALUES (?, ?, ?, '10.0.0.1', 'ipv4', 'feodo', '', ?, '127.0.0.1')",
            proposals,
        )
    db.execute("ANALYZE")
    db.close()
    return folder / "alertd.yaml"


def _timed(args: list[str], rounds: int) -> tuple[float, int]:
    """The best wall time of ``rounds`` runs of the command, and its output's size."""
    best, size = float("inf"), 0
    for _ in range(rounds):
        began = time.perf_counter()
        done = subprocess.run(args, capture_output=True, check=True)
        best = min(best, time.perf_counter() - began)
        size = len(done.stdout)
    return best, size


def _evict(path: Path) -> None:
    """Drop the file's pages from the page cache (Linux), so the next run reads it from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _cold(args: list[str], path: Path) -> float:
    """One run of the command with ``path`` evicted first."""
    _evict(path)
    began = time.perf_counter()
    subprocess.run(args, capture_output=True, check=True)
    return time.perf_counter() - began


def _sql(path: Path, rounds: int) -> float:
    """The best time of the report's SQL for both years on a bare connection."""
    year = Period(datetime(2026, 1, 1).date(), datetime(2027, 1, 1).date())
    best = float("inf")
    for _ in range(rounds):
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        began = time.perf_counter()
        figures(db, year, PARIS, {}, {})
        figures(db, year.previous(), PARIS, {}, {})
        best = min(best, time.perf_counter() - began)
        db.close()
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warnings", type=int, default=100_000)
    parser.add_argument("--establishments", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--message-bytes", type=int, default=22_000)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="alertd-bench-report-") as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        config = generate(folder, args.warnings, args.establishments, args.message_bytes)
        generated = time.perf_counter() - began
        store = folder / "state" / "alertd.sqlite3"
        base = [ALERTD, "-c", str(config)]
        year = ["report", "--from", "2026-01-01", "--to", "2026-12-31", "--compare-previous"]
        subprocess.run([*base, "history", "--limit", "1"], capture_output=True, check=True)  # registry cache warm
        history, _ = _timed([*base, "history", "--limit", "1"], args.rounds)
        as_json, json_bytes = _timed([*base, *year, "--format", "json"], args.rounds)
        as_html, html_bytes = _timed([*base, *year, "--format", "html"], args.rounds)
        cold_json = _cold([*base, *year, "--format", "json"], store)
        cold_history = _cold([*base, "history", "--limit", "1"], store)
        indexed = _sql(store, args.rounds)
        size = store.stat().st_size
        db = sqlite3.connect(store)
        for index in INDEXES:
            db.execute(f"DROP INDEX {index}")
        db.close()
        unindexed = _sql(store, args.rounds)
    print(
        json.dumps(
            {
                "warnings_2026": args.warnings,
                "warnings_2025": args.warnings // 2,
                "establishments": args.establishments,
                "message_bytes": args.message_bytes,
                "store_mb": round(size / 1e6, 1),
                "generated_s": round(generated, 2),
                "report_json_s": round(as_json, 3),
                "report_html_s": round(as_html, 3),
                "json_bytes": json_bytes,
                "html_bytes": html_bytes,
                "baseline_history_limit_1_s": round(history, 3),
                "ratio_json_to_baseline": round(as_json / history, 2),
                "ratio_html_to_baseline": round(as_html / history, 2),
                "cold_report_json_s": round(cold_json, 3),
                "cold_baseline_history_limit_1_s": round(cold_history, 3),
                "cold_ratio_json_to_baseline": round(cold_json / cold_history, 2),
                "sql_both_years_indexed_s": round(indexed, 3),
                "sql_both_years_without_the_report_indexes_s": round(unindexed, 3),
                "indexes_speedup": round(unindexed / indexed, 1),
                "rounds": args.rounds,
                "loadavg": {"before": list(load_before), "after": list(os.getloadavg())},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
