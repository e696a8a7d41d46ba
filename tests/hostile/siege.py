"""The real ``alertd run`` daemon under attack: one hostile feed next to a normal one, everything on loopback.

A :class:`Siege` serves the normal feed (the real Feodo Tracker sample, polled every ``NORMAL_INTERVAL``
seconds) and whatever hostile routes a test adds, from a :class:`FeedServer`; delivers to a real aiosmtpd over
STARTTLS; starts ``alertd run`` in a subprocess as systemd would (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``); and
watches it from outside for a while: every ``WATCHDOG=1`` datagram, every request of the normal feed, and
``/healthz`` once a second from a thread of its own (a frozen daemon must not freeze the watching).
:meth:`Siege.run` returns what it saw as an :class:`Outcome`, whose :meth:`Outcome.assert_withstood` checks the
promises of issue #13 (watchdog, memory, schedule, nothing lost, no TLP downgrade).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from textwrap import dedent, indent
from types import TracebackType
from typing import Any

from configs import ESTABLISHMENTS, every_entry_is_news
from http_server import FeedServer, unused_port
from paths import DATA
from smtp_server import ReceivedMessage, SmtpTestServer

ALERTD = str(Path(sys.executable).parent / "alertd")
FEODO = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
FEODO_COLUMNS = "{ip: dst_ip, port: dst_port, malware: malware, status: c2_status, last_seen: last_online}"
NORMAL_PATH = "/normal/ipblocklist.csv"
NORMAL_INTERVAL = 2  # seconds between two polls of the normal feed
NORMAL_CONTACT = "rssi@chu-test.example"  # e-chu, whose network holds a C2 the Feodo sample marks online
NORMAL_INDICATOR = "84[.]247[.]157[.]112"  # that C2, as the warning writes it
OPERATORS = "soc@cert-test.example"

WATCHDOG_USEC = 4_000_000  # systemd's WatchdogSec=4s: the daemon pings every 2 s (half, as sd_watchdog_enabled says)
MAX_PING_GAP = 10.0  # seconds: the promise (systemd units give WatchdogSec=60; this is far stricter)
MAX_POLL_LATE = 8.0  # seconds a poll of the normal feed may come after its interval, on two loaded cores
MAX_HEALTH_SECONDS = 10.0  # an answer of /healthz slower than this is a frozen daemon
MAX_PEAK_BYTES = 1024**3  # VmHWM, the resident set's high-water mark
READY_WITHIN = 90.0  # start-up on a loaded machine (imports, the store, the index)
TLP_ORDER = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")

EXTRA_ESTABLISHMENTS = """\
  - id: e-misp
    name: CH Domaines
    contacts: [{email: rssi@ch-domaines.example}]
    domains: [itosha.top]
"""


@dataclass(frozen=True)
class Health:
    """One look at ``/healthz``: when it was asked, its status (None: no answer), how long it took, its body."""

    at: float
    status: int | None
    seconds: float
    body: dict[str, Any]


@dataclass
class Outcome:
    """What the watching saw, from ``READY=1`` to the end of the window, and what the daemon left behind."""

    ready_at: float
    ended_at: float
    pings: list[float]
    normal_polls: list[float]
    health: list[Health]
    peak_bytes: int
    returncode: int | None
    messages: list[ReceivedMessage]
    log: str
    state_db: Path
    notes: list[str] = field(default_factory=list)
    stop_seconds: float | None = None  # from SIGTERM to the process's exit (None: it had ended, or was killed)

    # -- what the daemon did ------------------------------------------------------------------------------

    def emails(self, to: str) -> list[EmailMessage]:
        """The messages delivered to ``to``, parsed."""
        return [parse(m.content) for m in self.messages if to in m.rcpt_tos]

    def last_health(self) -> dict[str, Any]:
        """The last ``/healthz`` body that came back."""
        answered = [h.body for h in self.health if h.status is not None]
        return answered[-1] if answered else {}

    def events(self, name: str) -> list[dict[str, Any]]:
        """The daemon's JSON log events called ``name``."""
        out = []
        for line in self.log.splitlines():
            if line.startswith("{") and f'"{name}"' in line:
                with contextlib.suppress(json.JSONDecodeError):
                    event = json.loads(line)
                    if event.get("event") == name:
                        out.append(event)
        return out

    # -- the promises of issue #13 ------------------------------------------------------------------------

    def max_ping_gap(self) -> float:
        """The longest time without a ``WATCHDOG=1``, from ``READY=1`` to the end of the window."""
        times = [self.ready_at, *(t for t in self.pings if self.ready_at <= t <= self.ended_at), self.ended_at]
        return max(b - a for a, b in itertools.pairwise(times))

    def max_poll_gap(self) -> float:
        """The longest time between two requests of the normal feed (window edges included)."""
        times = [self.ready_at, *(t for t in self.normal_polls if self.ready_at <= t <= self.ended_at), self.ended_at]
        return max(b - a for a, b in itertools.pairwise(times))

    def assert_withstood(self) -> None:
        """The daemon kept every promise of issue #13: :meth:`assert_alive` and :meth:`assert_delivered`."""
        self.assert_alive()
        self.assert_delivered()

    def assert_alive(self) -> None:
        """The daemon pinged the watchdog, stayed under 1 GB, polled the normal feed on schedule, answered
        ``/healthz`` as live, and stopped cleanly on SIGTERM."""
        print(self.summary())  # shown by pytest when an assertion below fails
        assert self.max_ping_gap() <= MAX_PING_GAP, (
            f"watchdog silent for {self.max_ping_gap():.1f} s (pings at {self._relative(self.pings)})"
        )
        assert 0 < self.peak_bytes < MAX_PEAK_BYTES, f"peak memory {self.peak_bytes / 1024**2:.0f} MiB"
        assert self.max_poll_gap() <= NORMAL_INTERVAL + MAX_POLL_LATE, (
            f"normal feed not polled for {self.max_poll_gap():.1f} s (polls at {self._relative(self.normal_polls)})"
        )
        slow = [h for h in self.health if h.status != 200 or h.seconds > MAX_HEALTH_SECONDS]
        assert len(self.health) >= (self.ended_at - self.ready_at) / 3 and not slow, f"/healthz not live: {slow[:3]}"
        assert self.returncode == 0, f"exit {self.returncode}: {self.log[-3000:]}"

    def assert_delivered(self) -> None:
        """Nothing lost, nothing downgraded: the normal feed's warning came, once, marked TLP:AMBER as its feed;
        no message to an establishment is marked below amber (every feed here is amber, or clear and stricter
        at its source)."""
        warnings = [m for m in self.emails(NORMAL_CONTACT) if NORMAL_INDICATOR in text_of(m)]
        assert len(warnings) == 1, f"the normal feed's warning: {[m['Subject'] for m in self.emails(NORMAL_CONTACT)]}"
        assert tlp_of(warnings[0]) == "AMBER", warnings[0]["Subject"]
        for message in self.messages:
            if OPERATORS not in message.rcpt_tos:
                assert tlp_of(parse(message.content)) in TLP_ORDER[2:], parse(message.content)["Subject"]

    def summary(self) -> str:
        """One line of the measures, for a failing test's report."""
        slowest = max((h.seconds for h in self.health), default=0.0)
        return (
            f"window {self.ended_at - self.ready_at:.1f} s: {len(self.pings)} pings, longest gap "
            f"{self.max_ping_gap():.1f} s; normal feed polled {len(self.normal_polls)} times, longest gap "
            f"{self.max_poll_gap():.1f} s; /healthz asked {len(self.health)} times, slowest {slowest:.1f} s; "
            f"peak {self.peak_bytes / 1024**2:.0f} MiB; {len(self.messages)} messages; exit {self.returncode}"
        )

    def _relative(self, times: list[float]) -> str:
        return ", ".join(f"{t - self.ready_at:.1f}" for t in times[:60])


def parse(content: bytes) -> EmailMessage:
    """A message as received, parsed with the modern policy."""
    msg = message_from_bytes(content, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    """The plain text part of ``msg``."""
    part = msg.get_body(("plain",))
    return str(part.get_content()) if part is not None else ""


def every_part(msg: EmailMessage) -> str:
    """Every text part and attachment of ``msg``, decoded and joined: what an attacker's text could reach."""
    out = [str(msg["Subject"])]
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(out)


def tlp_of(msg: EmailMessage) -> str:
    """The TLP marking a message's subject starts with (``[TLP:AMBER] …``)."""
    found = re.match(r"\[TLP:([A-Z+]+)\]", str(msg["Subject"]))
    assert found, msg["Subject"]
    return found.group(1)


class Siege:
    """A loopback world for one attack: feed server, SMTP server, configuration, and the daemon run in it."""

    def __init__(self, tmp: Path, smtp: SmtpTestServer) -> None:
        self.tmp = tmp
        self.smtp = smtp
        self.server = FeedServer()
        self.server.route(NORMAL_PATH, FEODO.read_bytes(), etag='"feodo-2024-04-04"')
        self.port = unused_port()
        self.config = tmp / "alertd.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / "alertd.log"
        self.smtp_extra = ""  # more keys of the smtp section (username, password_file)
        self.notes: dict[str, Any] = {}  # what a test's ``done`` condition keeps between two calls
        self.others: list[FeedServer] = []

    def __enter__(self) -> Siege:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.server.close()
        for server in self.others:
            server.close()

    def other_server(self) -> FeedServer:
        """A second feed server, on another port: another origin; closed with the siege."""
        self.others.append(FeedServer())
        return self.others[-1]

    def url(self, path: str) -> str:
        """The URL of ``path`` on the feed server."""
        return self.server.url(path)

    def write_config(self, hostile_feeds: str) -> None:
        """The configuration: the normal feed, then ``hostile_feeds`` (YAML list items under ``feeds:``)."""
        feeds = (
            "feeds:\n"
            f"  - {{id: normal, url: '{self.url(NORMAL_PATH)}', format: csv, kind: compromise, "
            f"interval: {NORMAL_INTERVAL}s, columns: {FEODO_COLUMNS}}}\n" + indent(dedent(hostile_feeds), "  ")
        )
        (self.tmp / "feeds.yaml").write_text(every_entry_is_news(feeds))
        (self.tmp / "establishments.yaml").write_text(ESTABLISHMENTS + EXTRA_ESTABLISHMENTS)
        (self.tmp / "subscriptions.yaml").write_text(
            "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n"
        )
        (self.tmp / "ca.pem").write_bytes(self.smtp.ca_pem_path.read_bytes())
        extra = self.smtp_extra
        self.config.write_text(
            dedent(
                f"""\
                state_dir: state
                tlp: amber
                feeds: feeds.yaml
                registry: establishments.yaml
                subscriptions: subscriptions.yaml
                operators: [{OPERATORS}]
                sender: {{from: "CERT Test <alertes@cert-test.example>", reply_to: cert@cert-test.example}}
                delivery:
                  method: smtp
                  smtp: {{host: 127.0.0.1, port: {self.smtp.port}, security: starttls, ca_file: ca.pem{extra}}}
                http: {{listen: 127.0.0.1:{self.port}}}
                """
            )
        )

    def health(self, timeout: float = MAX_HEALTH_SECONDS + 5) -> Health:
        """Ask ``/healthz`` once."""
        start = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout) as response:
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except OSError:
            return Health(start, None, time.monotonic() - start, {})
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        return Health(start, status, time.monotonic() - start, body)

    def feed_health(self, feed: str) -> dict[str, Any]:
        """What ``/healthz`` says of ``feed`` now ({} when it does not answer)."""
        feeds: dict[str, dict[str, Any]] = self.health().body.get("feeds", {})
        return feeds.get(feed, {})

    def run(
        self,
        hostile_feeds: str,
        *,
        at_least: float = 15.0,
        at_most: float = 60.0,
        done: Callable[[Siege], bool] | None = None,
        warned: bool = True,
    ) -> Outcome:
        """Start the daemon on this world and watch it for ``at_least`` seconds after ``READY=1``, then until
        ``done`` (called every half second, from this thread) is true and (with ``warned``) the normal feed's
        warning is in, at most ``at_most`` seconds; stop it with SIGTERM and tell what was seen."""
        self.write_config(hostile_feeds)
        notify_path = str(self.tmp / "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(notify_path)
        sock.settimeout(0.2)
        pings: list[float] = []
        ready = threading.Event()
        health: list[Health] = []
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    lines = sock.recv(4096).decode().splitlines()
                except TimeoutError:
                    continue
                except OSError:
                    return
                now = time.monotonic()
                if "WATCHDOG=1" in lines:
                    pings.append(now)
                if "READY=1" in lines:
                    ready.set()

        def watch_health() -> None:
            ready.wait()
            while not stop.is_set():
                health.append(self.health())
                stop.wait(1.0)

        listener = threading.Thread(target=listen, name="notify", daemon=True)
        watcher = threading.Thread(target=watch_health, name="healthz", daemon=True)
        listener.start()
        watcher.start()
        # No WATCHDOG_PID: the process started here is the daemon itself.
        env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_PID"}
        env |= {"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        with self.log_path.open("wb") as log_file:
            self.proc = proc = subprocess.Popen(
                [ALERTD, "--log-level", "info", "-c", str(self.config), "run"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            started = time.monotonic()
            while not ready.wait(0.2) and proc.poll() is None and time.monotonic() - started < READY_WITHIN:
                pass
            if not ready.is_set():
                raise AssertionError(f"no READY=1 within {READY_WITHIN} s: {self.log_path.read_text()[-3000:]}")
            ready_at = time.monotonic()
            while proc.poll() is None:
                elapsed = time.monotonic() - ready_at
                if elapsed >= at_most:
                    break
                if elapsed >= at_least and (self._warned() or not warned) and (done is None or done(self)):
                    break
                time.sleep(0.5)
            ended_at = time.monotonic()
            stop.set()
            watcher.join(timeout=MAX_HEALTH_SECONDS + 10)
            health.append(self.health())  # the state ``done`` saw, or newer: the last word of the window
            peak = peak_memory(proc.pid)
            signalled: float | None = None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
            stop_seconds: float | None = None
            try:
                returncode: int | None = proc.wait(timeout=45)
                if signalled is not None:
                    stop_seconds = time.monotonic() - signalled
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                returncode = None
        finally:
            stop.set()
            listener.join(timeout=5)
            watcher.join(timeout=MAX_HEALTH_SECONDS + 10)
            sock.close()
        return Outcome(
            ready_at=ready_at,
            ended_at=ended_at,
            pings=pings,
            normal_polls=[r.at for r in self.server.requests(NORMAL_PATH)],
            health=health,
            peak_bytes=peak,
            returncode=returncode,
            messages=self.smtp.messages,
            log=self.log_path.read_text(errors="replace"),
            state_db=self.tmp / "state" / "alertd.sqlite3",
            stop_seconds=stop_seconds,
        )

    def once(self) -> subprocess.CompletedProcess[str]:
        """One ``alertd run --once`` cycle on the same configuration and state (the daemon stopped first)."""
        return subprocess.run(
            [ALERTD, "--log-level", "info", "-c", str(self.config), "run", "--once"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _warned(self) -> bool:
        return any(NORMAL_CONTACT in m.rcpt_tos for m in self.smtp.messages)


@dataclass(frozen=True)
class Attack:
    """One attack for :func:`besieged`: ``serve`` adds its routes to the siege's server and returns its feeds'
    YAML; the watching ends as :meth:`Siege.run` says with ``done``, ``at_least`` and ``at_most``."""

    serve: Callable[[Siege], str]
    done: Callable[[Siege], bool] | None = None
    at_least: float = 12.0
    at_most: float = 60.0
    warned: bool = True  # wait for the normal feed's warning (False: delivery is what the attack breaks)
    smtp: Callable[[], SmtpTestServer] = field(default=lambda: SmtpTestServer(tls="starttls"))  # the relay


@dataclass
class Besieged:
    """An attack's world (still serving, for a follow-up) and what its daemon did, or why it could not run."""

    siege: Siege
    result: Outcome | BaseException | None = None

    @property
    def outcome(self) -> Outcome:
        """What the daemon did; re-raises what went wrong while it ran."""
        if isinstance(self.result, BaseException):
            raise self.result
        assert self.result is not None
        return self.result


@contextlib.contextmanager
def besieged(attacks: Mapping[str, Attack], tmp: Path, workers: int = 3) -> Iterator[dict[str, Besieged]]:
    """Run each attack against a daemon of its own, ``workers`` daemons at a time (they mostly wait, and a module
    of sieges one after the other would take minutes), each in a world under ``tmp``; yield them by name, their
    servers still up, and close everything after."""
    with contextlib.ExitStack() as stack:
        worlds: dict[str, Besieged] = {}
        for name, attack in attacks.items():
            smtp = stack.enter_context(attack.smtp())
            folder = tmp / name
            folder.mkdir(parents=True)
            worlds[name] = Besieged(stack.enter_context(Siege(folder, smtp)))

        def run(name: str) -> None:
            attack, world = attacks[name], worlds[name]
            try:
                feeds = attack.serve(world.siege)
                world.result = world.siege.run(
                    feeds, at_least=attack.at_least, at_most=attack.at_most, done=attack.done, warned=attack.warned
                )
            except Exception as exc:  # told by the test of this attack, not by its neighbours'
                world.result = exc

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siege") as pool:
            list(pool.map(run, attacks))
        yield worlds


def peak_memory(pid: int) -> int:
    """The peak resident set (VmHWM) of process ``pid``, in bytes; 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


__all__ = [
    "FEODO",
    "NORMAL_CONTACT",
    "OPERATORS",
    "Attack",
    "Besieged",
    "Outcome",
    "Siege",
    "besieged",
    "every_part",
    "parse",
    "text_of",
    "tlp_of",
]
