"""Benchmark (contract §7): 2,000 distinct emails to a local SMTP server, alertd's outbox flush against a
sequential smtplib loop that opens one connection per message, in the same run.

    .venv/bin/python bench/dispatch.py [--emails 2000] [--pool-size 4]

The server is aiosmtpd on 127.0.0.1, plain SMTP (no TLS, so both sides pay the same), in a process of its own
so that it does not share the benchmark's GIL; its handler only counts what it accepts. The emails are rendered
by ``render_email`` from varied fake alerts (not timed). alertd's side is its real path: a state store in a
temporary folder, the emails put in the outbox with ``Store.enqueue_email``, then ``Engine.flush`` with the
``SmtpTransport`` that ``make_transport`` builds from a config loaded by ``load_config`` (logs written, to a
file). Prints one JSON object; the target is a ratio of 5 or more. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import smtplib
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, Self

from aiosmtpd.smtp import SMTP, Envelope, Session

from alertd.config.files import load_config
from alertd.domain.codes import MatchReason, SeverityRule
from alertd.domain.establishments import Contact, Establishment
from alertd.domain.facts import NO_FACTS, Facts, VersionFact
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity
from alertd.render.email import render_email
from alertd.render.environment import make_environment
from alertd.send.transports import SMTP_POOL_SIZE, SmtpTransport, make_transport
from alertd.service import logs
from alertd.service.dispatch import make_message_id
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

HOST = "127.0.0.1"
CONTEXT = multiprocessing.get_context("spawn")
SENDER = "alertes@cert-bench.example"
NOW = datetime(2025, 3, 12, 13, 5, tzinfo=UTC)

# -- the server, in its own process ---------------------------------------------------------------------------


class _Counter:
    """aiosmtpd hooks: count accepted messages and bytes, keep nothing; offer PIPELINING."""

    def __init__(self, messages: Synchronized[int], size: Synchronized[int]) -> None:
        self.messages = messages
        self.size = size

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.messages.get_lock():
            self.messages.value += 1
        with self.size.get_lock():
            self.size.value += len(envelope.original_content or b"")
        return "250 2.0.0 OK"

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads commands in order from its buffer but does not advertise RFC 2920 itself.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


def _serve(
    port: Synchronized[int], messages: Synchronized[int], size: Synchronized[int], cert: str | None, key: str | None
) -> None:
    """Run aiosmtpd on 127.0.0.1 until terminated; publish the port it got. With ``cert``, STARTTLS is required."""

    async def main() -> None:
        handler = _Counter(messages, size)
        tls: dict[str, Any] = {}
        if cert and key:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            tls = {"tls_context": context, "require_starttls": True}
        loop = asyncio.get_running_loop()
        # A fixed host name: aiosmtpd would otherwise resolve this host's FQDN for every connection.
        server = await loop.create_server(lambda: SMTP(handler, hostname="bench.localhost", **tls), HOST, 0)
        port.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(main())


class ChildServer:
    """A server in a child process (spawned, so it does not share the benchmark's GIL) that publishes the port it
    listens on: ``target(port, *args)``."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        self._port: Synchronized[int] = CONTEXT.Value("i", 0)
        self._process = CONTEXT.Process(target=target, args=(self._port, *args), daemon=True)

    def __enter__(self) -> Self:
        self._process.start()
        deadline = time.monotonic() + 30
        while self._port.value == 0:
            if time.monotonic() > deadline or not self._process.is_alive():
                raise RuntimeError(f"the benchmark's {type(self).__name__} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.join(10)

    @property
    def port(self) -> int:
        return int(self._port.value)


class BenchServer(ChildServer):
    """The counting aiosmtpd server in a child process (plain SMTP, or STARTTLS with a trustme certificate)."""

    def __init__(self, folder: Path, *, starttls: bool = False) -> None:
        self._messages: Synchronized[int] = CONTEXT.Value("q", 0)
        self._size: Synchronized[int] = CONTEXT.Value("q", 0)
        self.ca_file: Path | None = None
        cert = key = None
        if starttls:
            import trustme  # a test dependency, needed only for this variant

            ca = trustme.CA()
            self.ca_file, cert, key = folder / "ca.pem", str(folder / "server.pem"), str(folder / "server.key")
            ca.cert_pem.write_to_path(str(self.ca_file))
            issued = ca.issue_cert(HOST)
            issued.cert_chain_pems[0].write_to_path(cert)
            issued.private_key_pem.write_to_path(key)
        super().__init__(_serve, self._messages, self._size, cert, key)

    def counts(self) -> tuple[int, int]:
        """Messages and bytes accepted so far."""
        return int(self._messages.value), int(self._size.value)

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (Linux /proc), None where that cannot be read."""
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the emails -----------------------------------------------------------------------------------------------


def _alerts(n: int, est_id: str) -> list[Alert]:
    """One to three varied alerts for email number ``n``."""
    third = n % 250
    base: list[tuple[Indicator, str, MatchReason, FeedKind, Severity, str, Facts]] = [
        (
            Indicator(IndicatorType.IPV4, f"198.51.{100 + n // 250 % 4}.{third}"),
            f"198.51.{100 + n // 250 % 4}.0/24",
            MatchReason.ADDRESS_IN_NETWORK,
            FeedKind.COMPROMISE,
            Severity.IMMINENT,
            "feodo",
            Facts(malware=("QakBot", "Emotet", "IcedID", "Pikabot")[n % 4], port=str(443 + n % 7)),
        ),
        (
            Indicator(IndicatorType.CVE, f"CVE-2024-{21000 + n}"),
            f"Fortinet FortiOS 7.2.{n % 9}",
            MatchReason.KEV_PRODUCT,
            FeedKind.VULNERABILITY,
            Severity.CRITICAL,
            "cisa-kev",
            Facts(
                due_date="2024-02-16",
                required_action="Apply the vendor's update.",
                version=VersionFact.declared_as(f"7.2.{n % 9}"),
            ),
        ),
        (
            Indicator(IndicatorType.URL, f"https://login-{n}.phish.example/owa/auth.php?u={n}"),
            f"bench-{n}.example",
            MatchReason.DOMAIN,
            FeedKind.COMPROMISE,
            Severity.HIGH,
            "openphish",
            NO_FACTS,
        ),
        (
            Indicator(IndicatorType.NAME, f"centre hospitalier {n}"),
            f"Centre hospitalier {n}",
            MatchReason.NAME_MENTION,
            FeedKind.LEAK,
            Severity.IMMINENT,
            "leak-victims",
            Facts(group=("LockBit 3.0", "BlackCat", "Rhysida")[n % 3]),
        ),
    ]
    chosen = [base[(n + k) % len(base)] for k in range(1 + n % 3)]
    return [
        Alert(
            finding=Finding(
                establishment=est_id,
                indicator=indicator,
                asset=asset,
                reason=reason,
                feed=feed,
                kind=kind,
                entry=f"{feed}:{indicator.value}",
                title=f"{feed} entry {n}: {indicator.value}",
                link=f"https://feeds.example/{feed}/{n}",
                published=NOW - timedelta(hours=n % 48),
                facts=facts,
            ),
            severity=severity,
            rule=SeverityRule.unknown(f"{kind} rule"),
            subscription="bench",
            immediate=True,
            first_seen=NOW - timedelta(days=1, minutes=n),
            last_seen=NOW,
        )
        for indicator, asset, reason, kind, severity, feed, facts in chosen
    ]


def render_emails(count: int, config_path: Path) -> list[tuple[str, str, tuple[str, ...], str, bytes]]:
    """``count`` distinct emails: (establishment, Message-ID, recipients, subject, bytes)."""
    settings = load_config(config_path).settings
    env = make_environment(None)
    emails = []
    for n in range(count):
        est_id = f"{330000000 + n}"
        est = Establishment(
            id=est_id,
            name=f"Centre hospitalier {n}",
            language=("fr", "en")[n % 2],
            contacts=(Contact(f"rssi@bench-{n}.example"),),
        )
        recipients = (f"rssi@bench-{n}.example",) + ((f"astreinte@bench-{n}.example",) if n % 5 == 0 else ())
        message_id = make_message_id(est_id, [n], settings.sender_from)
        msg = render_email(
            env, est, _alerts(n, est_id), recipients, settings=settings.render, now=NOW, message_id=message_id
        )
        emails.append((est_id, message_id, recipients, str(msg["Subject"]), msg.as_bytes()))
    return emails


# -- the two contenders ---------------------------------------------------------------------------------------


def write_config(folder: Path, port: int, ca_file: Path | None = None) -> Path:
    """A minimal alertd.yaml delivering to 127.0.0.1:``port``, as tests/configs.py writes them.

    Plain SMTP, or STARTTLS verified against ``ca_file`` when one is given.
    """
    (folder / "establishments.yaml").write_text(
        "establishments:\n  - {id: bench, name: Bench Hospital, contacts: [{email: rssi@bench.example}]}\n"
    )
    (folder / "feeds.yaml").write_text(
        "feeds:\n  - {id: feodo, url: 'file://feodo.csv', format: csv, columns: {ip: dst_ip}, interval: 30m}\n"
    )
    (folder / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: bench, establishments: all, min_severity: info, delivery: immediate}\n"
    )
    security = f"starttls, ca_file: {ca_file}" if ca_file else "none"
    config = folder / "alertd.yaml"
    config.write_text(
        "state_dir: state\n"
        "feeds: feeds.yaml\n"
        "registry: establishments.yaml\n"
        "subscriptions: subscriptions.yaml\n"
        f'sender: {{from: "CERT Bench <{SENDER}>", reply_to: cert@cert-bench.example}}\n'
        "delivery:\n"
        "  method: smtp\n"
        f"  smtp: {{host: {HOST}, port: {port}, security: {security}}}\n"
    )
    return config


def run_alertd(
    config_path: Path,
    emails: Sequence[tuple[str, str, tuple[str, ...], str, bytes]],
    pool: int,
    flush_cpu: list[float],
) -> float:
    """Enqueue every email in a fresh store, then time ``Engine.flush`` (and closing the transport).

    The CPU time the flush took in this process is appended to ``flush_cpu``.
    """
    config = load_config(config_path)
    store = Store.in_state_dir(config.settings.state_dir)
    try:
        enqueued_at = datetime.now(UTC)
        for est_id, message_id, recipients, subject, message in emails:
            store.enqueue_email(
                establishment=est_id,
                alert_ids=[],
                finding_keys=[],
                message_id=message_id,
                sender=parseaddr(config.settings.sender_from)[1],
                recipients=recipients,
                subject=subject,
                message=message,
                now=enqueued_at,
            )
        engine = Engine(config, store)
        transport = make_transport(config.settings)
        if pool != SMTP_POOL_SIZE:
            assert config.settings.smtp is not None
            transport = SmtpTransport(config.settings.smtp, None, pool_size=pool)

        async def flush() -> tuple[float, Any]:
            started = time.perf_counter()
            try:
                report = await engine.flush(transport)
            finally:
                await transport.close()
            return time.perf_counter() - started, report

        cpu = time.process_time()
        elapsed, report = asyncio.run(flush())
        flush_cpu.append(time.process_time() - cpu)
        if report.sent != len(emails):
            raise RuntimeError(f"alertd sent {report.sent} of {len(emails)}: {report.errors[:3]}")
        return elapsed
    finally:
        store.close()


def run_smtplib(
    emails: Sequence[tuple[str, str, tuple[str, ...], str, bytes]], port: int, ca_file: Path | None
) -> float:
    """The baseline: one connection per message (STARTTLS on each when ``ca_file`` is given), one after the other."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    started = time.perf_counter()
    for _est, _mid, recipients, _subject, message in emails:
        with smtplib.SMTP(HOST, port, local_hostname="bench.localhost", timeout=30) as client:
            if context is not None:
                client.starttls(context=context)
            client.sendmail(SENDER, list(recipients), message)
    return time.perf_counter() - started


def _measured(server: BenchServer, run: Callable[[], float]) -> tuple[float, dict[str, float | None]]:
    """Run ``run()``: its timing, and the CPU time this process and the server used meanwhile."""
    client, before = time.process_time(), server.cpu_seconds()
    seconds = run()
    after = server.cpu_seconds()
    cpu = {
        "client_cpu_seconds": round(time.process_time() - client, 3),
        "server_cpu_seconds": round(after - before, 3) if after is not None and before is not None else None,
    }
    return seconds, cpu


def main(argv: Sequence[str] | None = None) -> int:
    """Run both contenders against one server and print the figures as JSON."""
    parser = argparse.ArgumentParser(description="alertd dispatch benchmark (contract §7)")
    parser.add_argument("--emails", type=int, default=2000, help="how many distinct emails (default 2000)")
    parser.add_argument("--pool-size", type=int, default=SMTP_POOL_SIZE, help="SmtpTransport connections")
    parser.add_argument("--starttls", action="store_true", help="STARTTLS on every connection, both sides")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="alertd-bench-") as tmp:
        folder = Path(tmp)
        with BenchServer(folder, starttls=args.starttls) as server:
            config = write_config(folder, server.port, server.ca_file)
            render_started = time.perf_counter()
            emails = render_emails(args.emails, config)
            render_seconds = time.perf_counter() - render_started
            total_bytes = sum(len(e[4]) for e in emails)

            with open(folder / "alertd.log", "w") as log_file, contextlib.redirect_stderr(log_file):
                logs.configure("info", json=True)  # the daemon's logging, one line per delivery, to a file
                flush_cpu: list[float] = []
                alertd_seconds, alertd_cpu = _measured(
                    server, lambda: run_alertd(config, emails, args.pool_size, flush_cpu)
                )
                alertd_cpu["client_cpu_seconds"] = round(flush_cpu[0], 3)
            after_alertd, _ = server.counts()
            baseline_seconds, baseline_cpu = _measured(server, lambda: run_smtplib(emails, server.port, server.ca_file))
            after_baseline, _ = server.counts()
            if after_alertd != len(emails) or after_baseline != 2 * len(emails):
                raise RuntimeError(f"the server counted {after_alertd} then {after_baseline} messages")

    count = len(emails)
    figures = {
        "benchmark": "dispatch",
        "emails": count,
        "mean_email_bytes": round(total_bytes / count),
        "server": "aiosmtpd on 127.0.0.1 in a separate process, handler counting only",
        "security": "starttls" if args.starttls else "none",
        "render_seconds": round(render_seconds, 3),
        "alertd": {
            "path": "Store.enqueue_email, then Engine.flush with the SmtpTransport make_transport builds",
            "pool_size": args.pool_size,
            "seconds": round(alertd_seconds, 3),
            "messages_per_s": round(count / alertd_seconds, 1),
            **alertd_cpu,
        },
        "baseline": {
            "path": "sequential smtplib.SMTP, one connection per message",
            "seconds": round(baseline_seconds, 3),
            "messages_per_s": round(count / baseline_seconds, 1),
            **baseline_cpu,
        },
        "ratio": round(baseline_seconds / alertd_seconds, 2),
        "target_ratio": 5.0,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
