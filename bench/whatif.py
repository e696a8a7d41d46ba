"""Benchmark (contract §7): ``alertd what-if`` over the history of 3,000 establishments, timed from outside, beside
``alertd poll --dry-run`` of the same feeds and ``alertd check`` of the same configuration, in the same run.

    .venv/bin/python bench/whatif.py [--establishments 3000] [--rows 100000] [--seed 7]

The registry is ``bench/registry.py``'s generator (one /24 and one /48 each, domains, 7 to 11 software items).
The history is a month of daily polls stored through ``Store.save_observations``, every row a JSON observation
(the daemon keeps a CSV list's IPv4 rows as rows, which what-if decodes by another path, measured no faster): a
Feodo-style CSV blocklist whose
``rows`` addresses (one in each establishment's /48, the rest outside every network) it lists half at a time, the
window moved on each day (what leaves is delisted, its last sighting kept), and the real KEV catalogue (tests/data)
every day, matched against the software. what-if replays the entries listed at the end (the last window and the KEV
catalogue): what a reload matches. The edited configuration widens one establishment's /48 to a /40 (it swallows
255 neighbours' addresses: a warning each, and as many shared networks warned of) and raises the subscription's
``min_severity`` from high to critical.

Timed, each in a subprocess, wall and CPU (of the child): the whole ``alertd what-if --format json`` (load both
configurations, read the store, build two indexes, match and decide twice, compare); the baseline, ``alertd poll
--dry-run`` of the same two feeds (load one configuration, read both files — the blocklist with all its month's
rows — match and decide once); and ``alertd check``. The ratio is what-if over the dry run. Prints one JSON
object; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "bench", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from builders import make_feed_spec  # noqa: E402
from registry import generate  # noqa: E402

from alertd.domain.feeds import FeedFormat  # noqa: E402
from alertd.intake.formats import FORMATS  # noqa: E402
from alertd.store.sqlite import Store  # noqa: E402

ALERTD = str(Path(sys.executable).parent / "alertd")
KEV = ROOT / "tests" / "data" / "kev" / "known_exploited_vulnerabilities.json"


def world(folder: Path, establishments: int, rows: int, seed: int) -> Path:
    """The running configuration in ``folder`` (its alertd.yaml): registry, feeds, one subscription; its store
    filled with a month of daily polls (:func:`history`)."""
    one, _ = generate(folder, establishments, 1, seed)
    (folder / "registry.d" / "part-000.yaml").unlink()
    (folder / "feeds.yaml").write_text(  # one a day: a month of polls is 30 of them
        "feeds:\n"
        f"  - {{id: feodo, url: 'file://{folder / 'feodo.csv'}', format: csv, kind: compromise, interval: 1d,\n"
        "     backlog_after: never,\n"
        "     columns: {ip: dst_ip, port: dst_port, first_seen: first_seen_utc, malware: malware}}\n"
        f"  - {{id: kev, url: 'file://{KEV}', format: cisa-kev, interval: 1d, backlog_after: never}}\n"
    )
    (folder / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n"
    )
    (folder / "alertd.yaml").write_text(
        f"state_dir: state\nfeeds: feeds.yaml\nregistry: {one.name}\nsubscriptions: subscriptions.yaml\n"
        "sender: {from: 'CERT Bench <alertes@cert-bench.example>'}\ndelivery: {method: maildir, maildir: maildir}\n"
    )
    return folder / "alertd.yaml"


def blocklist(establishments: int, rows: int, seed: int) -> list[str]:
    """The rows a Feodo-style blocklist lists over the month: one address in each establishment's /48 (their /24s
    are in 20.0.0.0/8, a cloud provider's range the benign lists set aside), the rest outside every network."""
    rnd = random.Random(seed)
    hits = [
        f"2026-03-01 10:00:00,2a01:cb{(i >> 16) & 255:02x}:{i & 0xFFFF:x}::{rnd.randrange(1, 65535):x},443,Pikabot"
        for i in range(1, establishments + 1)  # bench/registry.py gives establishment i 2a01:cbXX:<i>::/48
    ]
    others = []
    for _ in range(rows - establishments):
        address = ".".join(str(rnd.randrange(lo, hi)) for lo, hi in ((100, 200), (0, 256), (0, 256), (1, 255)))
        others.append(f"2026-03-01 10:00:00,{address},443,Pikabot")
    pool = others + hits
    rnd.shuffle(pool)
    return pool


def history(config: Path, establishments: int, rows: int, seed: int, days: int = 30) -> dict[str, Any]:
    """A month of daily polls stored as the daemon stores them (:meth:`Store.save_observations`, no matching, no
    email): each day the blocklist lists a window of its rows, moved on a little (what left it is delisted, its
    last sighting kept); the KEV catalogue is listed every day."""
    pool = blocklist(establishments, rows, seed)
    window, step = rows // 2, rows // (2 * days)
    spec = make_feed_spec(
        "feodo", FeedFormat.CSV, columns={"ip": "dst_ip", "port": "dst_port", "first_seen": "first_seen_utc"}
    )
    kev = FORMATS[FeedFormat.CISA_KEV].parse(make_feed_spec("kev", FeedFormat.CISA_KEV), KEV.read_bytes())
    store = Store.in_state_dir(config.parent / "state")
    listed = 0
    try:
        for day in range(days):
            when = datetime.now(UTC) - timedelta(days=days - 1 - day, hours=1)
            body = "first_seen_utc,dst_ip,dst_port,malware\n" + "\n".join(pool[day * step : day * step + window])
            observations = FORMATS[FeedFormat.CSV].parse(spec, body.encode())
            store.save_observations("feodo", observations, when)
            store.save_observations("kev", kev, when)
            listed = len(observations)
    finally:
        store.close()
    return {
        "days": days,
        "blocklist_rows_listed_a_day": listed,
        "blocklist_rows_over_the_month": min(rows, window + step * days),
    }


def edit(config: Path, establishments: int) -> Path:
    """The edited copy, in ``new/`` beside it: one establishment's /48 widened to a /40 (it swallows 255
    neighbours' addresses), ``min_severity`` raised to critical."""
    new = config.parent / "new"
    new.mkdir()
    for name in ("alertd.yaml", "feeds.yaml", "registry.yaml", "subscriptions.yaml"):
        (new / name).write_text((config.parent / name).read_text())
    middle = establishments // 2
    net = f'"2a01:cb{(middle >> 16) & 255:02x}:{middle & 0xFFFF:x}::/48"'
    wide = f'"2a01:cb{(middle >> 16) & 255:02x}:{middle & 0xFF00:x}::/40"'
    registry = new / "registry.yaml"
    assert net in registry.read_text()
    registry.write_text(registry.read_text().replace(net, wide, 1))
    subs = new / "subscriptions.yaml"
    subs.write_text(subs.read_text().replace("min_severity: high", "min_severity: critical"))
    return new / "alertd.yaml"


def timed(*args: str, ok: tuple[int, ...] = (0,)) -> tuple[dict[str, Any], str]:
    """Run ``alertd`` with ``args``; its wall and CPU seconds, and its stdout (an exit code not in ``ok`` stops)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run([ALERTD, "--log-level", "warning", *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise SystemExit(f"alertd {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}, done.stdout


def main(argv: list[str] | None = None) -> None:
    """Build the history, time the three commands, print JSON."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--establishments", type=int, default=3000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alertd-bench-whatif-") as tmp:
        config = world(Path(tmp), args.establishments, args.rows, args.seed)
        started = time.perf_counter()
        stored = history(config, args.establishments, args.rows, args.seed)
        (config.parent / "feodo.csv").write_text(  # the list as it is today: what the dry run reads
            "first_seen_utc,dst_ip,dst_port,malware\n" + "\n".join(blocklist(args.establishments, args.rows, args.seed))
        )
        new = edit(config, args.establishments)
        load = [os.getloadavg()[0]]
        # Exit 4: the widened network's shared networks are likely mistakes.
        what_if, out = timed("-c", str(config), "what-if", "--config", str(new), "--format", "json", ok=(0, 4))
        result = json.loads(out)
        load.append(os.getloadavg()[0])
        dry_run, out = timed("-c", str(config), "poll", "--dry-run")
        findings = out.count("\n")
        load.append(os.getloadavg()[0])
        check, _ = timed("-c", str(config), "check")
        load.append(os.getloadavg()[0])
        counted: dict[str, int] = {}
        reloads: dict[str, int] = {}  # what the reload sends, per difference
        for diffs in result["establishments"].values():
            for d in diffs:
                counted[d["change"]] = counted.get(d["change"], 0) + 1
                reloads[d["reload"]] = reloads.get(d["reload"], 0) + 1
        mistakes: dict[str, int] = {}
        for m in result["mistakes"]:
            mistakes[m["mistake"]] = mistakes.get(m["mistake"], 0) + 1
        print(
            json.dumps(
                {
                    "establishments": args.establishments,
                    "entries_replayed": result["entries"],
                    "history": stored,
                    "what_if": what_if
                    | {
                        "establishments_changed": len(result["establishments"]),
                        "changes": counted,
                        "at_reload": reloads,
                        "mistakes": mistakes,
                    },
                    "baseline_poll_dry_run": dry_run | {"lines": findings},
                    "check": check,
                    "ratio_what_if_to_dry_run": round(what_if["seconds"] / dry_run["seconds"], 2),
                    "target_seconds": 30,
                    "setup_seconds": round(time.perf_counter() - started, 1),
                    "load_average_1m": load,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
