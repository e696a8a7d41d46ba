"""``/healthz`` and ``/metrics`` on ``http.listen``, served from a thread of their own.

The server runs outside the event loop on purpose: a heartbeat coroutine in the loop stamps the time every
second, and the HTTP thread judges the loop stalled when the stamp grows old. A loop stuck in a blocking call is
thus reported (503), which a server inside the loop could never do. So is a loop that turns but no longer polls or
flushes (``progress.LoopProgress``, judged on the monotonic clock). The HTTP thread never touches SQLite: it reads
a snapshot the loop refreshes (``HealthSnapshot``), which carries what the process holds in memory too (feed
failures, a store that cannot be written: :mod:`~alertd.service.vitals`), so a full disk is told even when it
could not be recorded.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from alertd import __version__
from alertd.config.common import parse_listen
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import AlertdError
from alertd.service.logs import get_logger
from alertd.service.metrics import Metrics
from alertd.service.outboxwatch import OutboxWatch
from alertd.service.progress import LoopProgress
from alertd.service.vitals import Vitals

log = get_logger("alertd.http")

STALE_AFTER_SECONDS = 10.0
BEAT_INTERVAL_SECONDS = 1.0
REQUEST_TIMEOUT_SECONDS = 10.0
PATHS = ("/healthz", "/metrics")


class HttpListenError(AlertdError):
    """The HTTP endpoint cannot listen where ``http.listen`` says (port taken, address not here, bad syntax)."""


class FeedStateLike(Protocol):
    """What ``HealthSnapshot`` reads of a feed's state (``store.FeedState`` fits)."""

    @property
    def feed(self) -> str: ...
    @property
    def last_success(self) -> datetime | None: ...
    @property
    def consecutive_failures(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...


class HealthSnapshot:
    """Plain data about feeds and the outbox, refreshed by the loop and read by the HTTP thread.

    ``update`` builds new dictionaries and swaps them in whole, so a reader never sees a half-made one.
    """

    def __init__(self) -> None:
        self._feeds: dict[str, dict[str, Any]] = {}
        self._outbox: dict[DeliveryState, int] = dict.fromkeys(DeliveryState, 0)
        self._store: dict[str, Any] = {"writable": True, "write_errors": 0}

    def update(
        self,
        feed_states: Iterable[FeedStateLike],
        outbox: Mapping[DeliveryState, int] | None,
        configured: Iterable[str] | None = None,
        *,
        vitals: Vitals | None = None,
    ) -> None:
        """Take the store's feed states and outbox counts ({state: n}; None: keep the last ones); from the event
        loop.

        With ``configured``, feeds not polled yet appear with no success, and feeds no longer configured go. With
        ``vitals``, what this process saw overrides what the store says: its failures in a row, last error and
        last success of a feed (the store may have failed to record them), and whether the store can be written.
        """
        feeds: dict[str, dict[str, Any]] = {}
        wanted = None if configured is None else list(configured)
        for feed in wanted or ():
            feeds[feed] = {"last_success": None, "consecutive_failures": 0, "last_error": None}
        for s in feed_states:
            if wanted is None or s.feed in feeds:
                feeds[s.feed] = {
                    "last_success": s.last_success,
                    "consecutive_failures": s.consecutive_failures,
                    "last_error": s.last_error,
                }
        counts = dict.fromkeys(DeliveryState, 0)
        counts.update(self._outbox if outbox is None else outbox)
        store: dict[str, Any] = {"writable": True, "write_errors": 0}
        if vitals is not None:
            for feed, seen in vitals.feeds.items():
                if feed in feeds or wanted is None:
                    stored = feeds.get(feed, {}).get("last_success")
                    feeds[feed] = {
                        "last_success": max((t for t in (stored, seen.last_success) if t is not None), default=None),
                        "consecutive_failures": seen.consecutive_failures,
                        "last_error": seen.last_error if seen.consecutive_failures else None,
                    }
            store["write_errors"] = vitals.store_write_errors
            if vitals.store_fault is not None:
                fault = vitals.store_fault
                store.update(writable=False, error=fault.error, since=fault.since, path=str(fault.path))
            if vitals.damaged is not None:  # the damage, its path and the next step say more than the write error
                store.update(writable=False, damaged=True, error=vitals.damaged, path=str(vitals.store_path))
        self._feeds, self._outbox, self._store = feeds, counts, store

    def __call__(self) -> dict[str, Any]:
        """The snapshot as ``/healthz`` shows it: {"feeds": {...}, "outbox": {...}, "store": {...}}."""
        return {"feeds": self._feeds, "outbox": self._outbox, "store": self._store}

    def store(self) -> dict[str, Any]:
        """{"writable": bool, "write_errors": n, and while unwritable "error", "since", "path"}, for ``Metrics``."""
        return self._store

    def failures(self) -> dict[str, int]:
        """{feed: failed polls in a row}, for ``Metrics``."""
        return {feed: int(state["consecutive_failures"]) for feed, state in self._feeds.items()}

    def last_success(self) -> dict[str, datetime | None]:
        """{feed: last success}, for ``Metrics(feed_states=...)``."""
        return {feed: state["last_success"] for feed, state in self._feeds.items()}

    def outbox(self) -> dict[DeliveryState, int]:
        """{state: deliveries}, for ``Metrics(outbox_counts=...)``."""
        return dict(self._outbox)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class LocalServer(ThreadingHTTPServer):
    """A thread per request, daemonic, bound without a DNS lookup (also the acknowledgement page's server)."""

    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for the host's FQDN; a health endpoint must not wait on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


def stop_serving(server: LocalServer | None, thread: threading.Thread | None) -> bool:
    """Stop a server started in ``thread`` and close its socket; whether there was one to stop."""
    if server is None:
        return False
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)
    return True


class _Server(LocalServer):
    app: HealthServer


class _Server6(_Server):
    address_family = socket.AF_INET6


class LocalHandler(BaseHTTPRequestHandler):
    """What alertd's HTTP handlers share: the response with its headers, and logs through structlog only."""

    server_version = f"alertd/{__version__}"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS
    allow = "GET, HEAD"  # the methods a 405 names

    def more_headers(self, body: bytes) -> list[tuple[str, str]]:
        """Headers a handler adds to every response (none here)."""
        return []

    def logged_path(self) -> str | None:
        """The request's path as logged: without its query string, which could carry a token."""
        return urlsplit(getattr(self, "path", "")).path

    def _send(self, code: int, body: bytes, content_type: str, *, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in self.more_headers(body):
            self.send_header(name, value)
        if code == 405:
            self.send_header("Allow", self.allow)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    # The stdlib writes every request to stderr; alertd logs through structlog, and never a query string or
    # header, which could carry a token.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if isinstance(code, int) else code
        log.debug("http request", method=getattr(self, "command", None), path=self.logged_path(), status=status)

    def log_error(self, format: str, *args: Any) -> None:
        status = args[0] if args and isinstance(args[0], int) else None
        log.debug("http request refused", status=status)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Handler(LocalHandler):
    """GET and HEAD on ``/healthz`` and ``/metrics``; 404 elsewhere, 405 for other methods."""

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def _not_allowed(self) -> None:
        self._send(405, b"method not allowed; use GET or HEAD\n", "text/plain; charset=utf-8", head=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _respond(self, *, head: bool) -> None:
        app = cast(_Server, self.server).app
        path = urlsplit(self.path).path
        try:
            if path == "/healthz":
                code, data = app.health()
                body = json.dumps(data, default=_json_default).encode() + b"\n"
                self._send(code, body, "application/json", head=head)
            elif path == "/metrics":
                body, content_type = app.metrics_exposition(self.headers.get("Accept", ""))
                self._send(200, body, content_type, head=head)
            else:
                self._send(404, b"not found; try /healthz or /metrics\n", "text/plain; charset=utf-8", head=head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; nothing to tell it
        except Exception as exc:
            log.error("http request failed", path=path, error=str(exc))
            self._send(500, b"internal error\n", "text/plain; charset=utf-8", head=head)


class HealthServer:
    """The HTTP endpoint: ``start()`` binds and serves from a daemon thread; ``beat_forever()`` runs in the loop."""

    def __init__(
        self,
        listen: str,
        snapshot: Callable[[], Mapping[str, Any]],
        metrics: Metrics,
        *,
        stale_after: float = STALE_AFTER_SECONDS,
        beat_interval: float = BEAT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        work: LoopProgress | None = None,
        delivery: OutboxWatch | None = None,
    ) -> None:
        """``snapshot`` is called from the HTTP thread: it must return plain data, never query the store.
        ``work``: the loop's polls and flushes, judged against the schedule (503 when overdue); ``delivery``:
        whether the outbox empties (503 when an email has waited too long with no send accepted)."""
        self.listen = listen
        self.snapshot = snapshot
        self.metrics = metrics
        self.stale_after = stale_after
        self.beat_interval = beat_interval
        self.clock = clock
        self.work = work
        self.delivery = delivery
        self._last_beat = clock()
        self._measured_lag = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind to ``listen`` and serve; HttpListenError if the address is malformed, not here or taken."""
        if self._server is not None:
            raise RuntimeError("the HTTP server is already started")
        try:
            host, port = parse_listen(self.listen)
        except ValueError as exc:
            raise HttpListenError(str(exc)) from None
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise HttpListenError(f"cannot listen on {self.listen} (http.listen): {exc.strerror}") from None
        family, _, _, _, sockaddr = info[0]
        address = cast(tuple[str, int], sockaddr)  # an IPv6 4-tuple binds just as well
        server_class = _Server6 if family == socket.AF_INET6 else _Server
        try:
            server = server_class(address, _Handler)
        except OSError as exc:
            raise HttpListenError(f"cannot listen on {self.listen} (http.listen): {_why(exc)}") from None
        server.app = self
        self._server = server
        self._last_beat = self.clock()  # the loop gets a full staleness period to start beating
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="alertd-http", daemon=True
        )
        self._thread.start()
        log.info("http listening", listen=self.url)

    def stop(self) -> None:
        """Stop serving and close the socket (waits at most a fraction of a second)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if stop_serving(server, thread):
            log.info("http stopped")

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) bound, with the real port when ``listen`` asked for port 0."""
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- liveness ---------------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Stamp the time; call from the event loop (``beat_forever`` does, every ``beat_interval``)."""
        self._last_beat = self.clock()

    async def beat_forever(self) -> None:
        """Beat every ``beat_interval`` seconds and measure how late each wake-up is; cancel to stop."""
        loop = asyncio.get_running_loop()
        while True:
            self.heartbeat()
            due = loop.time() + self.beat_interval
            await asyncio.sleep(self.beat_interval)
            self._measured_lag = max(0.0, loop.time() - due)

    def lag(self) -> float:
        """Seconds the loop is late: the last measured lag, or more if the next beat is overdue now."""
        overdue = self.clock() - self._last_beat - self.beat_interval
        return max(0.0, self._measured_lag, overdue)

    def live(self) -> bool:
        """True while the loop's last heartbeat is at most ``stale_after`` seconds old."""
        return self.clock() - self._last_beat <= self.stale_after

    # -- responses (run in the HTTP thread) -------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        """(status code, JSON body) of ``/healthz``: 200 with status "ok" when the loop is live, the store can be
        written and the work is not overdue; else 503 with status "stalled" (the loop does not turn),
        "store_unwritable" (with the store's error), "work overdue" (it turns, but polls or flushes stopped:
        ``work.overdue`` says which) or "delivery failing" (the outbox does not empty: ``reason`` says how
        long)."""
        live, lag = self.live(), self.lag()
        snapshot = self.snapshot()
        store = snapshot.get("store")
        writable = not isinstance(store, Mapping) or store.get("writable") is not False
        overdue = self.work.overdue() if self.work is not None else []
        damaged = isinstance(store, Mapping) and store.get("damaged") is True
        failing = self.delivery.failing() if self.delivery is not None else None
        status = (
            "stalled"
            if not live
            else "store_damaged"
            if damaged
            else "store_unwritable"
            if not writable
            else "work overdue"
            if overdue
            else "delivery failing"
            if failing
            else "ok"
        )
        # "status" comes first for a human reading curl's output; the snapshot cannot override it.
        body: dict[str, Any] = {"status": status, **snapshot, "loop_lag_seconds": round(lag, 3)}
        if self.work is not None:
            body["work"] = self.work.report()
        if self.delivery is not None:
            body["delivery"] = self.delivery.report()
        body["status"] = status
        if damaged and isinstance(store, Mapping):
            body["reason"] = str(store.get("error"))  # the path and the next step (alertd state restore)
        elif not writable and isinstance(store, Mapping):
            body["reason"] = f"store cannot be written: {store.get('error')} ({store.get('path')})"
        elif status == "delivery failing":
            body["reason"] = failing
        return (200 if status == "ok" else 503), body

    def metrics_exposition(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type) of ``/metrics``, with ``alertd_up`` and the loop lag as judged now."""
        self.metrics.set_liveness(self.live(), self.lag())
        return self.metrics.render(accept)


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use; stop what holds it or choose another port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no such address on this machine; use one of its own addresses, e.g. 127.0.0.1"
    if exc.errno == errno.EACCES:
        return "permission denied; ports below 1024 need privileges alertd does not have"
    return exc.strerror or str(exc)
