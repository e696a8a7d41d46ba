"""Benchmark (contract §7): 2,000 establishments warned end to end, as a user runs it, against a bare smtplib loop,
in the same run; on loopback, then through a local proxy adding 10 ms of round-trip time (a relay far away).

    .venv/bin/python bench/relay.py [--count 2000] [--rtt-ms 10] [--pool-size N [N ...]] [--only loopback|proxy]

A config folder with ``count`` establishments, each owning one /24 (``tests/configs.py``'s numbered world), and a
Feodo-style CSV feed (a file) listing one address in each: one finding, one email per establishment. The server is
aiosmtpd on 127.0.0.1 in a process of its own (``bench/dispatch.py``'s counting server: plain SMTP, PIPELINING
offered). alertd is timed from outside: ``alertd -c alertd.yaml run --once`` in a subprocess, wall time, from a
fresh state folder (nothing cached); its split (start, poll+match, render+commit, send, the rest) is read from the
timestamps of its JSON log. The baseline sends ``count`` plain messages, one after the other, a new smtplib
connection each. Through the proxy both go through it: an asyncio TCP proxy in its own process that holds each
chunk ``rtt/2`` in each direction, in order. alertd runs once per ``--pool-size`` given (the duplicates a crash may
cost follow it, contract §4), the baseline once per route; each run's ratio is baseline / alertd, and its
``send_only_ratio`` baseline / alertd's send phase. Prints one JSON object; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT / "bench", ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from configs import numbered_world  # noqa: E402
from dispatch import HOST, BenchServer, ChildServer  # noqa: E402

from alertd.send.transports import SMTP_POOL_SIZE  # noqa: E402

ALERTD = str(Path(sys.executable).parent / "alertd")
SENDER = "alertes@cert-test.example"
FEED = "feeds:\n  - {id: feodo, url: 'file://feodo.csv', format: csv, interval: 1h, columns: {ip: dst_ip}}\n"


# -- the proxy, in its own process ----------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk written ``delay`` seconds after it was read, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
        queue.put_nowait((loop.time() + delay, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        reading.cancel()
        writer.close()


def _proxy(port: Synchronized[int], upstream: int, delay: float) -> None:
    """Listen on 127.0.0.1, forward each connection to ``upstream``, ``delay`` seconds each way."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer, delay), _pipe(up_reader, writer, delay), return_exceptions=True)

    async def main() -> None:
        server = await asyncio.start_server(client, HOST, 0, backlog=512)
        port.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(main())


class DelayProxy(ChildServer):
    """The delaying TCP proxy in a child process, in front of 127.0.0.1:``upstream``."""

    def __init__(self, upstream: int, rtt: float) -> None:
        super().__init__(_proxy, upstream, rtt / 2)


# -- the two contenders ---------------------------------------------------------------------------------------


def feed_csv(count: int) -> str:
    """A Feodo-style CSV listing one address in each establishment's network (``numbered_world``'s 81.a.b.0/24)."""
    rows = ["first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware"]
    rows += [
        f"2025-03-01 10:00:00,81.{i // 250}.{i % 250}.{1 + i % 200},443,online,2025-03-12,QakBot" for i in range(count)
    ]
    return "\n".join(rows) + "\n"


def _when(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


def split(log: str, launched: float, ended: float) -> dict[str, float]:
    """alertd's time by phase, from its JSON log lines: start (to the match index built), poll+match (to the last
    feed polled), render+commit (to the last email queued), send (to the last delivery sent), the rest (backup,
    exit)."""
    marks: dict[str, float] = {}
    for raw in log.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        event = line.get("event")
        if event in ("match index built", "feed polled", "email queued", "delivery sent"):
            marks[str(event)] = _when(line)  # the last of each
    points = [launched] + [
        marks.get(e, launched) for e in ("match index built", "feed polled", "email queued", "delivery sent")
    ]
    points.append(ended)
    names = ("start", "poll_match", "render_commit", "send", "rest")
    return {name: round(max(0.0, b - a), 3) for name, a, b in zip(names, points, points[1:], strict=False)}


def run_alertd(folder: Path, count: int, port: int, pool: int) -> dict[str, Any]:
    """A fresh numbered world delivering to 127.0.0.1:``port``; ``run --once`` timed from outside."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "feodo.csv").write_text(feed_csv(count))
    config = numbered_world(folder, count, FEED, port)
    config.write_text(config.read_text().replace("security: none", f"security: none, pool_size: {pool}"))
    before = os.times()
    launched = time.time()
    started = time.perf_counter()
    done = subprocess.run(
        [ALERTD, "--log-level", "info", "-c", str(config), "run", "--once"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    ended = time.time()
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    if done.returncode != 0:
        raise RuntimeError(f"alertd run --once exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return {
        "pool_size": pool,
        "duplicates_per_crash_at_most": pool,  # contract §4
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "split_seconds": split(done.stderr, launched, ended),
    }


def plain_message(i: int, size: int = 0) -> bytes:
    """A plain-text message to establishment ``i``'s contact: a line of greeting, or ``size`` bytes in all."""
    head = (
        f"From: {SENDER}\r\nTo: rssi{i}@est{i}.example\r\nSubject: test {i}\r\n"
        f"Message-ID: <bare-{i}@cert-test.example>\r\n\r\nHello {i}.\r\n"
    ).encode()
    lines = max(0, size - len(head)) // 78  # lines of 76 characters and CRLF, as a mail body is written
    return head + (b"x" * 76 + b"\r\n") * lines


def run_smtplib(count: int, port: int, size: int = 0) -> float:
    """The baseline: ``count`` plain messages (of ``size`` bytes, if given), one after the other, a new connection
    each."""
    messages = [plain_message(i, size) for i in range(count)]  # made before the clock starts: only sending counts
    started = time.perf_counter()
    for i, message in enumerate(messages):
        with smtplib.SMTP(HOST, port, timeout=60) as client:
            client.sendmail(SENDER, [f"rssi{i}@est{i}.example"], message)
    return time.perf_counter() - started


def built_message(i: int, size: int) -> bytes:
    """What a script warning establishment ``i`` would send: an ``EmailMessage`` built by the standard library, a
    text part and an HTML alternative of about ``size`` bytes in all (a third and two thirds), as alertd's are."""
    message = EmailMessage()
    message["From"] = f"CERT Test <{SENDER}>"
    message["To"] = f"rssi{i}@est{i}.example"
    message["Subject"] = f"[CERT] Compromission détectée : 81.{i // 250}.{i % 250}.1"
    message["Message-ID"] = f"<script-{i}@cert-test.example>"
    line = f"L'adresse 81.{i // 250}.{i % 250}.1 de votre établissement est signalée par un flux de menaces.\n"
    message.set_content(line * max(1, size // 3 // len(line)))
    message.add_alternative(f"<p>{line}</p>\n" * max(1, 2 * size // 3 // (len(line) + 8)), subtype="html")
    return message.as_bytes(policy=SMTP)  # CRLF line ends: smtplib sends bytes as they are


def run_script(count: int, port: int, size: int) -> float:
    """The baseline a script is: each warning built (``built_message``) and sent, a new connection each."""
    started = time.perf_counter()
    for i in range(count):
        with smtplib.SMTP(HOST, port, timeout=60) as client:
            client.sendmail(SENDER, [f"rssi{i}@est{i}.example"], built_message(i, size))
    return time.perf_counter() - started


def contest(folder: Path, server: BenchServer, port: int, count: int, pools: Sequence[int]) -> dict[str, Any]:
    """alertd (once per pool size) then the baseline, all to ``port``; the server's count checked after each."""
    runs: dict[str, Any] = {}
    mean_size = 0
    for pool in pools:
        before, size_before = server.counts()
        runs[str(pool)] = run_alertd(folder, count, port, pool)
        sent, size_after = server.counts()
        if sent - before != count:
            raise RuntimeError(f"the server counted {sent - before} messages from alertd, not {count}")
        mean_size = (size_after - size_before) // count
    baselines = {}
    for name, size in (("plain", 0), ("same_size", mean_size), ("script", mean_size)):
        before, _ = server.counts()
        baselines[name] = run_script(count, port, size) if name == "script" else run_smtplib(count, port, size)
        if server.counts()[0] - before != count:
            raise RuntimeError(f"the server counted {server.counts()[0] - before} messages from smtplib, not {count}")
    baseline = baselines["plain"]
    for run in runs.values():
        run["ratio"] = round(baseline / run["seconds"], 2)
        run["ratio_same_size"] = round(baselines["same_size"] / run["seconds"], 2)
        run["ratio_script"] = round(baselines["script"] / run["seconds"], 2)
        run["send_only_ratio"] = round(baseline / max(run["split_seconds"]["send"], 1e-3), 2)
    return {
        "alertd_by_pool_size": runs,
        "baseline_seconds": round(baseline, 3),
        "baseline_same_size_seconds": round(baselines["same_size"], 3),
        "baseline_script_seconds": round(baselines["script"], 3),
        "alertd_mean_email_bytes": mean_size,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run both contenders, direct and through the proxy, and print the figures as JSON."""
    parser = argparse.ArgumentParser(description="alertd end-to-end dispatch benchmark (contract §7)")
    parser.add_argument("--count", type=int, default=2000, help="establishments warned (default 2000)")
    parser.add_argument("--rtt-ms", type=float, default=10.0, help="round-trip time the proxy adds (default 10)")
    parser.add_argument(
        "--pool-size", type=int, nargs="+", default=[SMTP_POOL_SIZE], help="delivery.smtp.pool_size, one run each"
    )
    parser.add_argument("--only", choices=("loopback", "proxy"), default=None, help="run one route only")
    args = parser.parse_args(argv)

    routes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="alertd-relay-") as tmp, BenchServer(Path(tmp)) as server:
        if args.only in (None, "loopback"):
            routes["loopback"] = contest(Path(tmp) / "loopback", server, server.port, args.count, args.pool_size)
        if args.only in (None, "proxy"):
            with DelayProxy(server.port, args.rtt_ms / 1000) as proxy:
                routes["proxy"] = contest(Path(tmp) / "proxy", server, proxy.port, args.count, args.pool_size)
                routes["proxy"]["rtt_ms"] = args.rtt_ms

    figures = {
        "benchmark": "relay",
        "establishments": args.count,
        "server": "aiosmtpd on 127.0.0.1 in a separate process, plain SMTP, PIPELINING offered, counting only",
        "alertd": "alertd -c alertd.yaml run --once in a subprocess, fresh state folder, wall time",
        "baseline": "sequential smtplib.SMTP, one connection per plain message",
        "baseline_same_size": "the same loop, each message as long as alertd's mean email",
        "baseline_script": "the same loop building each warning with email.message.EmailMessage first (text + HTML)",
        **routes,
        "targets": {"loopback_ratio": 1.0, "proxy_ratio": 5.0},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None,
        },
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
