"""A real HTTP server on 127.0.0.1 for tests: feeds, validators, gzip, redirects, slow and endless bodies.

    with FeedServer() as server:
        server.route("/feed.csv", b"ip\\n192.0.2.1\\n", etag='"v1"')
        url = server.url("/feed.csv")
        ...
        assert server.requests("/feed.csv")[-1].headers["If-None-Match"] == '"v1"'

Every request is counted and recorded per path (without the query string). Handler threads are daemons and
every slow route wakes up when the server closes, so leaving the ``with`` block never waits long.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip as gzip_module
import mimetypes
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

_CHUNK = 64 * 1024


class Headers(Mapping[str, str]):
    """Request headers as received, looked up case-insensitively (the last value wins)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = {name.lower(): value for name, value in items}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: str
    headers: Headers
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic), to judge a schedule


@dataclass(frozen=True)
class Route:
    """What the server answers on one path; build routes with the :class:`FeedServer` methods."""

    body: bytes = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    location: str | None = None
    trickle: float | None = None  # seconds between bytes
    stream_bytes: int | None = None  # stream this many bytes, without a Content-Length unless claimed
    claimed_length: int | None = None  # Content-Length to announce, whatever is sent
    delay: float = 0.0  # seconds to wait before answering


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: FeedServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens on the first read, in the handler's thread, not in the accept loop.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.connections_lock:
            self.connections.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-body (size caps, timeouts) are what the tests provoke; stay quiet.
        pass

    def close_connections(self) -> None:
        with self.connections_lock:
            open_sockets = list(self.connections)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self, head=True)


class FeedServer:
    """An HTTP (or, given an ``ssl_context``, HTTPS) server on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._routes: dict[str, Route] = {}
        self._dirs: dict[str, Path] = {}
        self._requests: dict[str, list[RecordedRequest]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = _Server(self, ssl_context)
        self._scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="FeedServer", daemon=True)
        self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, wake slow routes and drop open connections."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- addresses ---------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (or ``https://``)."""
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- routes ------------------------------------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Serve ``body`` with ``status`` on ``path`` (after ``delay`` seconds: a slow server).

        With ``etag`` / ``last_modified`` the response carries them and a matching ``If-None-Match`` /
        ``If-Modified-Since`` gets a ``304``. With ``gzip`` the body is gzip-encoded for clients that
        accept it.
        """
        self._set(
            path,
            Route(body, status, dict(headers or {}), etag, last_modified, gzip, delay=delay),
        )

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location`` (a path on this server or an absolute URL)."""
        self._set(path, Route(status=status, location=location))

    def trickle(self, path: str, body: bytes = b"x" * 120, *, interval: float = 1.0) -> None:
        """Announce ``body``'s full length, then send it one byte every ``interval`` seconds."""
        self._set(path, Route(body=body, trickle=interval))

    def stream(self, path: str, size: int, *, claimed_length: int | None = None) -> None:
        """Send ``size`` bytes in 64 KiB chunks and close; no Content-Length unless ``claimed_length``.

        Streams stop by themselves after ``size`` bytes or when the client hangs up.
        """
        self._set(path, Route(stream_bytes=size, claimed_length=claimed_length))

    def serve_dir(self, prefix: str, directory: Path) -> None:
        """Serve the files of ``directory`` under ``prefix``, with ETag and Last-Modified validators."""
        with self._lock:
            self._dirs["/" + prefix.strip("/") + "/"] = directory.resolve()

    def _set(self, path: str, route: Route) -> None:
        with self._lock:
            self._routes[path] = route

    # -- what was asked ----------------------------------------------------------------------------------

    def requests(self, path: str) -> list[RecordedRequest]:
        """The requests received on ``path`` (without its query string), oldest first."""
        with self._lock:
            return list(self._requests.get(path, ()))

    def requests_under(self, prefix: str) -> list[RecordedRequest]:
        """The requests received on every path that starts with ``prefix``."""
        with self._lock:
            return [r for path, rs in self._requests.items() if path.startswith(prefix) for r in rs]

    def count(self, path: str) -> int:
        """How many requests ``path`` received."""
        return len(self.requests(path))

    # -- serving (runs in handler threads) ---------------------------------------------------------------

    def _handle(self, handler: _Handler, head: bool = False) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        recorded = RecordedRequest(handler.command, path, parts.query, Headers(list(handler.headers.items())))
        with self._lock:
            self._requests.setdefault(path, []).append(recorded)
            route = self._routes.get(path)
            dirs = list(self._dirs.items())
        if route is None:
            for prefix, directory in dirs:
                if path.startswith(prefix):
                    route = self._file_route(directory, unquote(path[len(prefix) :]))
                    break
        _Response(handler, route or Route(b"not found\n", status=404), self._stop, head).send()

    @staticmethod
    def _file_route(directory: Path, name: str) -> Route:
        target = (directory / name).resolve()
        if not target.is_relative_to(directory) or not target.is_file():
            return Route(b"not found\n", status=404)
        st = target.stat()
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Route(
            target.read_bytes(),
            headers={"Content-Type": content_type},
            etag=f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
            last_modified=email.utils.formatdate(st.st_mtime, usegmt=True),
        )


class _Response:
    """Writes one :class:`Route` as the answer to one request."""

    def __init__(self, handler: _Handler, route: Route, stop: threading.Event, head: bool) -> None:
        self.handler = handler
        self.route = route
        self.stop = stop
        self.head = head

    def send(self) -> None:
        route, handler = self.route, self.handler
        if route.delay and self.stop.wait(route.delay):
            return
        try:
            if route.location is not None:
                self._start(route.status, {"Location": route.location, "Content-Length": "0"})
            elif self._not_modified():
                self._start(304, self._validators())
            elif route.trickle is not None:
                self._send_trickle(route.body, route.trickle)
            elif route.stream_bytes is not None:
                self._send_stream(route.stream_bytes, route.claimed_length)
            else:
                self._send_body()
        except OSError:  # the client hung up or timed out (ssl.SSLError included)
            handler.close_connection = True

    def _not_modified(self) -> bool:
        route, headers = self.route, self.handler.headers
        if route.status != 200:
            return False
        if_none_match = headers.get("If-None-Match")
        if if_none_match is not None:
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return route.etag is not None and ("*" in tags or route.etag.removeprefix("W/") in tags)
        since = headers.get("If-Modified-Since")
        if since is not None and route.last_modified is not None:
            try:
                return email.utils.parsedate_to_datetime(route.last_modified) <= (
                    email.utils.parsedate_to_datetime(since)
                )
            except (TypeError, ValueError):
                return False
        return False

    def _validators(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.route.etag is not None:
            out["ETag"] = self.route.etag
        if self.route.last_modified is not None:
            out["Last-Modified"] = self.route.last_modified
        return out

    def _start(self, status: int, headers: Mapping[str, str]) -> None:
        handler = self.handler
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        handler.send_response(status, reason)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()

    def _send_body(self) -> None:
        route = self.route
        body = route.body
        headers = {"Content-Type": "application/octet-stream", **route.headers, **self._validators()}
        accepted = self.handler.headers.get("Accept-Encoding", "")
        if route.gzip and "gzip" in accepted:
            body = gzip_module.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        headers["Content-Length"] = str(len(body))
        self._start(route.status, headers)
        if not self.head:
            self.handler.wfile.write(body)

    def _send_trickle(self, body: bytes, interval: float) -> None:
        self._start(200, {"Content-Type": "text/plain", "Content-Length": str(len(body))})
        if self.head:
            return
        for i in range(len(body)):
            self.handler.wfile.write(body[i : i + 1])
            self.handler.wfile.flush()
            if self.stop.wait(interval):
                break
        self.handler.close_connection = True

    def _send_stream(self, size: int, claimed_length: int | None) -> None:
        headers = {"Content-Type": "text/plain", "Connection": "close"}
        if claimed_length is not None:
            headers["Content-Length"] = str(claimed_length)
        self._start(200, headers)
        self.handler.close_connection = True
        if self.head:
            return
        chunk = b"198.51.100.7\n" * (_CHUNK // 13)
        sent = 0
        while sent < size and not self.stop.is_set():
            piece = chunk[: size - sent]
            self.handler.wfile.write(piece)
            sent += len(piece)


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released), for 'connection refused'."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


__all__ = ["FeedServer", "Headers", "RecordedRequest", "Route", "unused_port"]
