"""The acknowledgement page on ``web.listen`` (contract §4, "Acknowledgements"), served from a thread of its own.

Separate from ``/healthz`` and ``/metrics`` (:mod:`~alertd.service.httpapi`): it faces the establishments through
the CERT's reverse proxy, they face the operators. Its threads read and write the store through a connection of
their own (:class:`~alertd.store.acks.AckBook`), never the loop's.

A GET shows the page and records nothing: mail security gateways open every link of an email. A POST records one
response, once the link token is genuine and current, the form token matches it, the request comes from the page
itself (``Origin``, ``Sec-Fetch-Site``) and the rate limits (per source address, per link) allow it. The token
travels in the path (the last segment, whatever prefix the proxy keeps) and is never logged.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast
from urllib.parse import parse_qs, urlsplit

from limits import parse as parse_rate_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from alertd.config.common import parse_listen
from alertd.domain.acknowledgement import COMMENT_MAX_CHARS, AckResponse
from alertd.domain.establishments import Establishment
from alertd.domain.settings import WebSettings
from alertd.render.acklink import AckKey, BadToken, ExpiredToken, LinkClaims, form_token, form_token_ok, read_token
from alertd.render.ackpage import BAD_FORM, EXPIRED, LIMITED, REFUSED, ack_page, refusal_page, security_policy
from alertd.service.httpapi import HttpListenError, LocalHandler, LocalServer, stop_serving
from alertd.service.logs import get_logger
from alertd.service.setup import Prepared
from alertd.store.acks import Ack, AckBook, AckEmail

log = get_logger("alertd.web")

MAX_FORM_BYTES = 16_384  # a comment of COMMENT_MAX_CHARS in UTF-8, percent-encoded, and the other fields
HTML = "text/html; charset=utf-8"
MAX_CONNECTIONS = 32  # requests served at once; a connection beyond is answered 503 and closed, nothing read
REQUEST_DEADLINE_SECONDS = 15.0  # from a connection's accept to its response, whatever the client trickles


class _Refused(Exception):
    """A request answered with a refusal page: its status and what the page says."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


def clean_comment(text: str) -> str:
    """A comment as kept: control and format characters removed (line breaks and tabs become spaces), cut at
    :data:`COMMENT_MAX_CHARS`, spaces at both ends stripped."""
    text = text[: COMMENT_MAX_CHARS * 2]  # bounded before the character loop
    kept = (" " if c in "\r\n\t" else c for c in text if c in "\r\n\t" or unicodedata.category(c)[0] != "C")
    return "".join(kept)[:COMMENT_MAX_CHARS].strip()


def source_address(peer: str, forwarded: str | None, trusted: tuple[str, ...]) -> str:
    """Who sent a request: the peer, or, when the peer is a trusted proxy, the nearest address of its
    ``X-Forwarded-For`` that is not itself a trusted proxy (the ones further left are the client's word)."""
    networks = [ipaddress.ip_network(t) for t in trusted]

    def is_trusted(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in n for n in networks)

    if not forwarded or not is_trusted(peer):
        return peer
    for hop in reversed(forwarded[:2048].split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a forged or garbled header: the proxy's own address is all that is known
        if not is_trusted(hop):
            return hop
    return peer


class AckWeb:
    """The page's application: ``start()`` binds ``web.listen`` and serves from a daemon thread."""

    def __init__(
        self,
        web: WebSettings,
        book: AckBook,
        current: Callable[[], Prepared],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_connections: int = MAX_CONNECTIONS,
        request_deadline: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        """``current`` gives the configuration in force (registry, templates, settings, the links' key) at each
        request: a reload that changes the key turns the links made with the old one down. At most
        ``max_connections`` are served at once, each cut ``request_deadline`` seconds after it was accepted."""
        self.web, self.book, self.current, self.clock = web, book, current, clock
        self.max_connections, self.request_deadline = max_connections, request_deadline
        parts = urlsplit(web.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.limit = parse_rate_limit(web.rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self._server: _WebServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve; HttpListenError if the address is malformed, not here or taken."""
        try:
            host, port = parse_listen(self.web.listen, "web.listen")
            family, _, _, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
        except (ValueError, socket.gaierror) as exc:
            raise HttpListenError(f"cannot listen on {self.web.listen} (web.listen): {exc}") from None
        server_class = _WebServer6 if family == socket.AF_INET6 else _WebServer
        try:
            server = server_class(cast(tuple[str, int], sockaddr), _Handler)
        except OSError as exc:
            raise HttpListenError(f"cannot listen on {self.web.listen} (web.listen): {exc.strerror}") from None
        server.web = self
        server.bound(self.max_connections, self.request_deadline)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="alertd-web", daemon=True
        )
        self._thread.start()
        log.info("acknowledgement page listening", listen=self.url, published=self.web.base_url)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        stop_serving(server, thread)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the web server is not started")
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- requests ---------------------------------------------------------------------------------------

    @property
    def key(self) -> AckKey:
        ack = self.current().ack
        if ack is None:  # a reload took ``web`` away: no link is good any more
            raise _Refused(403, REFUSED)
        return ack.key

    def allowed(self, source: str, token: str) -> bool:
        """Whether the rate limits let one more request through, per source address and per link."""
        return self.limiter.hit(self.limit, "source", source) and self.limiter.hit(self.limit, "link", token[:128])

    def page(self, token: str, thanks: AckResponse | None = None) -> str:
        """The page of the email a genuine, current token names; :class:`_Refused` otherwise."""
        claims, email, est = self._email(token)
        prepared = self.current()
        responses = [(a.at, a.response) for a in self.book.responses(claims.reference)]
        return ack_page(
            prepared.templates,
            est,
            email.alerts,
            prepared.config.settings.render,
            reference=email.reference,
            sent=email.created,
            language=email.language,
            form_token=form_token(self.key, token),
            responses=responses,
            thanks=thanks,
        )

    def answer(self, token: str, read_form: Callable[[], dict[str, list[str]]], source: str) -> str:
        """Record one response posted by the page's form; the page saying it is recorded. The form is read
        (``read_form``) only once the link's token is known good: a body is never waited for on a bad link."""
        claims, _email, _est = self._email(token)
        form = read_form()
        given = form.get("form", [""])[0]
        if not form_token_ok(self.key, token, given):
            raise _Refused(403, BAD_FORM)
        try:
            response = AckResponse(form.get("response", [""])[0])
        except ValueError:
            raise _Refused(403, BAD_FORM) from None
        comment = clean_comment(form.get("comment", [""])[0])
        self.book.record(Ack(claims.establishment, claims.reference, response, comment, self.clock(), source))
        log.info(
            "acknowledgement recorded",
            establishment=claims.establishment,
            reference=claims.reference,
            response=str(response),
        )
        return self.page(token, thanks=response)

    def _email(self, token: str) -> tuple[LinkClaims, AckEmail, Establishment]:
        """What a genuine, current token names: its claims, its email and its establishment; :class:`_Refused`."""
        try:
            claims = read_token(self.key, token, self.clock())
        except ExpiredToken:
            raise _Refused(410, EXPIRED) from None
        except BadToken:
            raise _Refused(403, REFUSED) from None
        email = self.book.email(claims.reference)
        est = self.current().config.registry.establishments.get(claims.establishment)
        # A token of one establishment never shows another's email, whatever reference it names.
        if email is None or email.establishment != claims.establishment or est is None:
            raise _Refused(403, REFUSED)
        return claims, email, est

    def refusal(self, why: str) -> str:
        """The refusal page saying ``why`` (a key of :mod:`~alertd.render.ackpage`), naming only the CERT."""
        return refusal_page(self.current().templates, why, self.current().config.settings.organisation or "alertd")


class _WebServer(LocalServer):
    """The page's server: a bounded number of connections at once, each with an overall deadline (the socket's
    timeout is per read, so a client trickling a byte at a time would otherwise hold a thread for hours)."""

    web: AckWeb

    def bound(self, connections: int, deadline: float) -> None:
        self._slots = threading.BoundedSemaphore(connections)
        self._deadline = deadline
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open[request] = time.monotonic() + self._deadline
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done(request)
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done(request)

    def _done(self, request: socket.socket) -> None:
        with self._open_lock:
            if self._open.pop(request, None) is not None:
                self._slots.release()

    def service_actions(self) -> None:
        """Between two polls of ``serve_forever``: cut every connection past its deadline (its read then ends)."""
        now = time.monotonic()
        with self._open_lock:
            late = [r for r, deadline in self._open.items() if deadline <= now]
        for request in late:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)


class _WebServer6(_WebServer):
    address_family = socket.AF_INET6


class _Handler(LocalHandler):
    """GET and HEAD show a page, POST answers; anything else is 405."""

    allow = "GET, HEAD, POST"

    def do_GET(self) -> None:
        self._serve(post=False, head=False)

    def do_HEAD(self) -> None:
        self._serve(post=False, head=True)

    def do_POST(self) -> None:
        self._serve(post=True, head=False)

    def _not_allowed(self) -> None:
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8", head=False)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _serve(self, *, post: bool, head: bool) -> None:
        web = cast(_WebServer, self.server).web
        token = urlsplit(self.path).path.rstrip("/").rpartition("/")[2]
        # Every line, in order: a proxy may add its own line after the one the client wrote.
        forwarded = ",".join(self.headers.get_all("X-Forwarded-For") or []) or None
        source = source_address(str(self.client_address[0]), forwarded, web.web.trusted_proxies)
        try:
            try:
                if not web.allowed(source, token):
                    raise _Refused(429, LIMITED)
                if post:
                    self._check_origin(web)
                    html = web.answer(token, self._form, source)
                else:
                    html = web.page(token)
                self._send(200, html.encode("utf-8"), HTML, head=head)
            except _Refused as refused:
                if refused.status != 429:
                    log.info("acknowledgement page refused", status=refused.status, why=refused.why, source=source)
                self._send(refused.status, web.refusal(refused.why).encode("utf-8"), HTML, head=head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception as exc:
            log.error("acknowledgement page failed", error=type(exc).__name__)
            self._send(500, b"internal error\n", "text/plain; charset=utf-8", head=head)

    def _check_origin(self, web: AckWeb) -> None:
        """A POST must come from the page itself. A browser that sends ``Sec-Fetch-Site`` must say
        ``same-origin``; its ``Origin`` is then the page's, or ``null`` (what a page under ``Referrer-Policy:
        no-referrer`` posts with). Without ``Sec-Fetch-Site``, an ``Origin`` given must be the page's. The form
        token (:func:`~alertd.render.acklink.form_token`) is checked after, whatever the headers say."""
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None:
            ok = site == "same-origin" and origin in (None, "null", web.origin)
        else:
            ok = origin is None or origin == web.origin
        if not ok:
            raise _Refused(403, BAD_FORM)

    def _form(self) -> dict[str, list[str]]:
        """The posted form, its size capped before it is read or parsed."""
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if kind != "application/x-www-form-urlencoded" or not 0 <= length <= MAX_FORM_BYTES:
            raise _Refused(403, BAD_FORM)
        body = self.rfile.read(length).decode("utf-8", "replace")
        try:
            return parse_qs(body, max_num_fields=8)
        except ValueError:
            raise _Refused(403, BAD_FORM) from None

    def more_headers(self, body: bytes) -> list[tuple[str, str]]:
        return [
            ("Content-Security-Policy", security_policy(body.decode("utf-8", "replace"))),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]

    def logged_path(self) -> str | None:
        return None  # the path holds the token
