"""The fetch edge: read one feed over HTTP(S) or from a ``file://`` path, within its size cap and deadline.

A :class:`Fetcher` holds one shared ``httpx.AsyncClient`` for the daemon's life. ``fetch(feed, validators)``
sends a conditional GET with the validators the store kept from the last poll, so an unchanged feed costs a
``304`` and no parsing. The body is streamed and the decoded bytes counted, so neither a huge download nor a
server trickling one byte a second can hold the poll; every failure is a :class:`FetchError` whose message
names the URL without its credentials.

Decompression is done here, not by httpx: the raw stream is inflated in bounded steps and every inflated byte
counted against the feed's ``max_bytes`` as it comes, so a small compressed body cannot inflate past the cap
(httpx checks only after a whole chunk is inflated). One ``Content-Encoding`` (``gzip`` or ``deflate``) is
decoded; stacked encodings (``gzip, gzip``) and unknown ones are refused. A body that is itself a gzip file
(``epss_scores-current.csv.gz``) is unpacked the same way, under the same cap.

A ``taxii`` feed is read by :mod:`alertd.intake.taxii` (the TAXII protocol, over its own blocking client) in a
worker thread, under the same size cap and deadline; its result says whether it holds the whole collection.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import ssl
import stat
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
import structlog

from alertd import __version__
from alertd.domain.errors import FetchError
from alertd.domain.feeds import FeedConfig, FeedFormat, Validators
from alertd.intake import reach, taxii

log = structlog.get_logger(__name__)

#: Per-operation limits; the feed's ``timeout`` bounds the whole fetch on top of these.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)
MAX_REDIRECTS = 5

#: Bytes inflated at a time: the cap is checked between steps, so at most one step is ever held beyond it.
INFLATE_STEP = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Codings asked for in Accept-Encoding; "identity" (and an empty value) means none.
_CODINGS = ("gzip", "x-gzip", "deflate")

# Query parameters whose values are credentials often enough to be kept out of messages and logs.
_SECRET_PARAMS = ("key", "token", "secret", "pass", "auth", "sig", "session")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One poll's outcome: the body (``b""`` when not modified) and the validators to keep for the next one.

    ``status`` is the HTTP status (``0`` for ``file://``); ``url`` is the final URL after redirects, with
    credentials removed; ``elapsed`` is in seconds; ``inside``: the feed's url is on a non-global address (or a
    file), so the documents its index lists may be too. ``complete`` is False when the body holds only what was added
    since the last poll (a TAXII collection read incrementally): what it does not list has not left the feed.
    """

    not_modified: bool
    body: bytes
    validators: Validators
    status: int
    url: str
    elapsed: float
    inside: bool = False
    complete: bool = True


def default_user_agent(contact: str | None = None) -> str:
    """``alertd/<version>``, followed by ``(+contact)`` so a feed's operator knows whom to call."""
    return f"alertd/{__version__} (+{contact})" if contact else f"alertd/{__version__}"


def redact_url(url: str) -> str:
    """``url`` fit for a message or a log: no ``user:password@``, no values of secret-looking parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_is_secret(name) for name, _ in pairs):
                query = urlencode([(n, "***" if _is_secret(n) else v) for n, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_PARAMS)


class Fetcher:
    """Fetches feeds through one shared HTTP client; use as ``async with Fetcher(...) as fetcher:``.

    ``user_agent`` defaults to :func:`default_user_agent` without a contact.
    ``ca_file`` replaces the system's trusted certificates with one bundle (for tests and private CAs);
    ``trust_env`` lets ``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE`` apply, as an operator would expect.
    The client belongs to the event loop that first uses it.
    """

    def __init__(
        self,
        user_agent: str | None = None,
        *,
        ca_file: Path | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        trust_env: bool = True,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        self._user_agent = user_agent or default_user_agent()
        self._ca_file = ca_file
        self._trust_env = trust_env
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._client = httpx.AsyncClient(
            http1=True,
            http2=False,
            # Followed hop by hop in _fetch_http, each target checked before it is connected to.
            follow_redirects=False,
            headers={
                "User-Agent": self._user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=timeout,
            verify=verify,
            trust_env=trust_env,
        )
        # Through a proxy, the connection's peer is the proxy, and the proxy resolves names: only the check before
        # connecting applies (contract §2, "Reach").
        self._proxied = trust_env and any(
            key in ("http", "https", "all") for key in urllib.request.getproxies_environment()
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared client and its connections."""
        await self._client.aclose()

    async def fetch(self, feed: FeedConfig, validators: Validators, *, inside: bool | None = None) -> FetchResult:
        """Fetch ``feed.url``, conditionally on ``validators``; raise :class:`FetchError` on any failure.

        ``inside`` is None for a feed's own url (the operator's choice: fetched wherever it is), and says for a
        document an index lists whether non-global addresses may be reached (:attr:`FetchResult.inside` of the
        index); redirects are followed hop by hop under the same rule (contract §2, "Reach").
        """
        scheme = feed.url.partition("://")[0].lower()
        if feed.format is FeedFormat.TAXII and scheme in ("http", "https"):
            return await self._fetch_taxii(feed, validators)
        if scheme in ("http", "https"):
            return await self._fetch_http(feed, validators, inside)
        if scheme == "file":
            return await _fetch_file(feed, validators)
        raise FetchError(f"{redact_url(feed.url)}: unsupported URL scheme; use https://, http:// or file://")

    async def _fetch_taxii(self, feed: FeedConfig, validators: Validators) -> FetchResult:
        """A TAXII collection, read by taxii2-client in a worker thread (it blocks); it keeps to the feed's timeout
        itself, its socket operations timing out sooner."""
        shown = redact_url(feed.url)
        start = time.monotonic()
        try:
            # A backstop for what no socket timeout covers (a name lookup that hangs): the poll goes on, and the
            # thread ends on its own.
            async with asyncio.timeout(feed.timeout + taxii.CONNECT_TIMEOUT + taxii.READ_TIMEOUT):
                read = await asyncio.to_thread(
                    taxii.read_collection,
                    feed,
                    validators,
                    shown,
                    user_agent=self._user_agent,
                    ca_file=self._ca_file,
                    trust_env=self._trust_env,
                )
        except TimeoutError:
            raise FetchError(
                f"{shown}: timed out after {feed.timeout:g}s; raise the feed's 'timeout' if it is slow"
            ) from None
        elapsed = time.monotonic() - start
        log.debug("fetched", feed=feed.id, url=shown, pages=read.pages, bytes=len(read.body), elapsed=round(elapsed, 3))
        return FetchResult(read.not_modified, read.body, read.validators, 200, shown, elapsed, complete=read.complete)

    async def _fetch_http(self, feed: FeedConfig, validators: Validators, inside: bool | None) -> FetchResult:
        shown = redact_url(feed.url)
        headers: dict[str, str] = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        start = time.monotonic()
        try:
            async with asyncio.timeout(feed.timeout):
                own = inside is None  # the feed's own url: its first hop is the operator's choice, not checked
                if inside is None:
                    inside = await self._inside(feed.url)
                url, checked = feed.url, not own and not inside
                for _hop in range(MAX_REDIRECTS + 1):
                    if checked:
                        await _check_target(url, inside)
                    async with self._client.stream("GET", url, headers=headers) as response:
                        if checked and not self._proxied:
                            _check_peer(response, inside)
                        if not response.has_redirect_location:
                            return await self._read(feed, validators, response, shown, start, inside)
                        url = _next_hop(response)
                    # Every hop after the first is the server's choice: checked, whatever the feed's url is.
                    checked = not inside
                raise FetchError(f"{shown}: too many redirects (more than {MAX_REDIRECTS}) or a loop")
        except reach.Refused as exc:
            raise FetchError(f"{shown}: refused: {exc}") from None
        except TimeoutError:
            raise FetchError(
                f"{shown}: timed out after {feed.timeout:g}s; raise the feed's 'timeout' if it is slow"
            ) from None
        except httpx.TimeoutException as exc:
            raise FetchError(f"{shown}: {_describe(exc)}") from None
        except httpx.ConnectError as exc:
            raise FetchError(f"{shown}: cannot connect: {_describe(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{shown}: {_describe(exc)}") from None
        except httpx.InvalidURL:
            raise FetchError(f"{shown}: invalid URL") from None

    async def _inside(self, url: str) -> bool:
        """Whether the feed's own url is on a non-global address: then its redirects and documents may be too."""
        parts = urlsplit(url)
        try:
            addresses = await reach.resolve(parts.hostname or "", parts.port or 443)
        except (reach.Refused, ValueError):
            return False  # the fetch itself will say why it cannot connect
        # Every address: whoever holds the host's DNS could otherwise add a 127.0.0.1 record and lift the rules.
        return bool(addresses) and all(reach.is_inside(a) for a in addresses)

    async def _read(
        self,
        feed: FeedConfig,
        validators: Validators,
        response: httpx.Response,
        shown: str,
        start: float,
        inside: bool,
    ) -> FetchResult:
        final = redact_url(str(response.url))
        status = response.status_code
        if status == 304:
            if not (validators.etag or validators.last_modified):
                raise FetchError(f"{shown}: HTTP 304 Not Modified to a request that was not conditional")
            kept = Validators(
                response.headers.get("ETag") or validators.etag,
                response.headers.get("Last-Modified") or validators.last_modified,
            )
            return FetchResult(True, b"", kept, status, final, time.monotonic() - start, inside)
        if not 200 <= status < 300:
            # The status line only: the body (an error page) and any header are the server's words, not ours.
            raise FetchError(f"{shown}: {reach.status_line(status, response.reason_phrase)}")
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > feed.max_bytes:
            raise FetchError(f"{shown}: the server announces {int(length)} bytes, more than max_bytes {feed.max_bytes}")
        body = _Capped(feed.max_bytes, shown)
        coding = _content_coding(response.headers.get("Content-Encoding", ""), shown)
        decoder = _Inflater(coding, shown) if coding else None
        wire = 0
        async for raw in response.aiter_raw():
            wire += len(raw)
            if wire > feed.max_bytes:  # compressed data that does not shrink is bounded too
                raise body.too_large()
            if decoder is None:
                body.add(raw)
            else:
                for piece in decoder.feed(raw):
                    body.add(piece)
        if decoder is not None:
            decoder.finish()
        data = body.bytes()
        if data.startswith(_GZIP_MAGIC):
            # A .gz file served as is: unpacked under the same cap, in a worker thread (up to max_bytes of work).
            data = await asyncio.to_thread(unpack_gzip_file, data, feed.max_bytes, shown)
        size = len(data)
        new = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
        elapsed = time.monotonic() - start
        log.debug("fetched", feed=feed.id, url=shown, host=reach.host_of(final), status=status, bytes=size)
        return FetchResult(False, data, new, status, final, elapsed, inside)


def unpack_gzip_file(data: bytes, max_bytes: int, shown: str) -> bytes:
    """The content of a gzip file (every member of it), inflated in bounded steps; :class:`FetchError` when it
    inflates past ``max_bytes`` or is truncated or corrupt. Bytes that are not gzip are returned unchanged."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    body = _Capped(max_bytes, shown, "unpacked")
    inflater = _Inflater("gzip", shown)
    view = memoryview(data)
    for start in range(0, len(data), INFLATE_STEP):
        for piece in inflater.feed(bytes(view[start : start + INFLATE_STEP])):
            body.add(piece)
    inflater.finish()
    return body.bytes()


class _Capped:
    """A body being collected, refused (by raising) as soon as it holds more than ``max_bytes``."""

    def __init__(self, max_bytes: int, shown: str, how: str = "decompressed") -> None:
        self.max_bytes = max_bytes
        self.shown = shown
        self.how = how
        self.size = 0
        self._chunks: list[bytes] = []

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise self.too_large()
        self._chunks.append(piece)

    def too_large(self) -> FetchError:
        return FetchError(
            f"{self.shown}: body larger than max_bytes {self.max_bytes} ({self.how}); raise the feed's "
            "'max_bytes' if it is expected"
        )

    def bytes(self) -> bytes:
        return b"".join(self._chunks)


def _content_coding(header: str, shown: str) -> str | None:
    """The one content coding to undo (``None``: none); stacked or unknown codings raise :class:`FetchError`."""
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(codings) > 1:
        # Each layer multiplies what a few bytes inflate to (a 13 KB "gzip, gzip" body inflates past 7 GB), and
        # no feed needs two: refused outright rather than inflated.
        raise FetchError(
            f"{shown}: the server stacks content encodings ({header.strip()}); alertd decodes at most one, "
            "a stacked encoding is refused as a likely decompression bomb"
        )
    if not codings:
        return None
    if codings[0] not in _CODINGS:
        raise FetchError(
            f"{shown}: unsupported Content-Encoding {header.strip()!r}; alertd asks for gzip or deflate only"
        )
    return codings[0]


class _Inflater:
    """Undoes one gzip or deflate layer in steps of at most :data:`INFLATE_STEP` output bytes.

    ``feed`` is a generator: the caller counts each piece against the cap and stops pulling when it is passed,
    so no more than one step is ever inflated beyond it.
    """

    def __init__(self, coding: str, shown: str) -> None:
        self.coding = coding
        self.shown = shown
        self._fed = False
        self._pending = b""  # deflate: the first bytes, until they say whether a zlib header is there
        self._inflate: zlib._Decompress | None = None
        if coding != "deflate":
            self._inflate = zlib.decompressobj(_GZIP_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated pieces of ``data``, the next compressed bytes of the stream."""
        self._fed = self._fed or bool(data)
        if self._inflate is None:
            self._pending += data
            if len(self._pending) < 2:
                return
            # RFC 9110 deflate is zlib-wrapped; some servers send raw deflate: the header tells which.
            cmf, flg = self._pending[0], self._pending[1]
            wrapped = cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        inflate = self._inflate
        try:
            if inflate.eof:
                inflate, data = self._next_member(inflate, inflate.unused_data + data)
            while data:
                piece = inflate.decompress(data, INFLATE_STEP)
                if piece:
                    yield piece
                if inflate.eof:
                    inflate, data = self._next_member(inflate, inflate.unused_data)
                else:
                    data = inflate.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(f"{self.shown}: the {self.coding} data is corrupt ({exc})") from None

    def _next_member(self, ended: zlib._Decompress, rest: bytes) -> tuple[zlib._Decompress, bytes]:
        """What follows the end of a stream: a gzip file may hold several members, one after the other, each
        inflated in turn; anything else there is ignored, as browsers and httpx do."""
        if self.coding == "deflate" or not rest.startswith(_GZIP_MAGIC):
            return ended, b""
        self._inflate = zlib.decompressobj(_GZIP_WBITS)
        return self._inflate, rest

    def finish(self) -> None:
        """Check that the stream ended where its format says; a truncated download raises :class:`FetchError`."""
        if self._fed and (self._inflate is None or not self._inflate.eof):
            raise FetchError(f"{self.shown}: the {self.coding} data is truncated; the download was cut short")


def _describe(exc: Exception) -> str:
    """Our words for an HTTP client failure: its kind, and for a connection the system's reason. The client's
    own message is not repeated: a protocol error quotes the bytes the server sent."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the server"
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            return "the server's TLS certificate is not trusted or not valid for its host"
        if isinstance(cause, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(cause, OSError) and cause.strerror:
            return reach.public_text(cause.strerror)[:80]  # the system's words ("Connection refused")
        return "the connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server broke the HTTP protocol (or closed the connection early)"
    if isinstance(exc, httpx.DecodingError):
        return "the body could not be decoded"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported URL scheme"
    return type(exc).__name__


async def _check_target(url: str, inside: bool) -> None:
    """Before connecting: ``url`` is http(s), and each address its host resolves to is allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise reach.Refused("an unreadable redirect target") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise reach.Refused("a redirect to another scheme than http or https")
    host = parts.hostname or ""
    if not host:
        raise reach.Refused("a redirect without a host")
    for addr in await reach.resolve(host, port):
        reach.check_address(addr, host, inside)


def _check_peer(response: httpx.Response, inside: bool) -> None:
    """After connecting: the address actually connected to is allowed (a host name may resolve to a global address
    when checked and to an internal one when connected: DNS rebinding). The request is sent by then; no byte of
    the answer is read."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if isinstance(peer, tuple) and peer:
        addr = reach.address(str(peer[0]))
        if addr is not None:
            reach.check_address(addr, response.url.host, inside)


def _next_hop(response: httpx.Response) -> str:
    """The absolute URL a redirect points to; :class:`reach.Refused` when it is not http(s)."""
    try:
        target = response.url.join(response.headers["Location"])
    except (httpx.InvalidURL, ValueError):
        raise reach.Refused("an unreadable redirect target") from None
    if target.scheme not in ("http", "https"):
        raise reach.Refused("a redirect to another scheme than http or https")
    return str(target)


def _file_path(url: str) -> Path:
    # config/feeds.py writes file:// URLs as the raw absolute path; a hand-written URL may be percent-encoded.
    raw = url[len("file://") :]
    if raw.startswith("localhost/"):
        raw = raw[len("localhost") :]
    path = Path(raw)
    if not path.exists() and unquote(raw) != raw:
        path = Path(unquote(raw))
    return path


async def _fetch_file(feed: FeedConfig, validators: Validators) -> FetchResult:
    start = time.monotonic()
    path = _file_path(feed.url)
    not_modified, body, new = await asyncio.to_thread(_read_file, path, feed.max_bytes, validators)
    return FetchResult(not_modified, body, new, 0, feed.url, time.monotonic() - start, True)


def _read_file(path: Path, max_bytes: int, validators: Validators) -> tuple[bool, bytes, Validators]:
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise FetchError(f"{path}: not a regular file")
            if st.st_size > max_bytes:
                raise FetchError(f"{path}: {st.st_size} bytes, more than max_bytes {max_bytes}")
            new = Validators(
                f'"{st.st_mtime_ns}-{st.st_size}"',
                email.utils.formatdate(st.st_mtime, usegmt=True),
            )
            if validators.etag == new.etag:
                return True, b"", validators
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise FetchError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FetchError(f"{path}: not a regular file") from None
    except PermissionError:
        raise FetchError(f"{path}: permission denied; alertd's user must be able to read it") from None
    except OSError as exc:
        raise FetchError(f"{path}: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise FetchError(f"{path}: grew past max_bytes {max_bytes} while being read")
    return False, unpack_gzip_file(body, max_bytes, str(path)), new


__all__ = [
    "DEFAULT_TIMEOUT",
    "INFLATE_STEP",
    "FetchResult",
    "Fetcher",
    "default_user_agent",
    "redact_url",
    "unpack_gzip_file",
]
