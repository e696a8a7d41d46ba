"""The TAXII edge: read a TAXII 2.1 collection's objects with ``taxii2-client``, within the feed's limits.

The feed's ``url`` is the collection's URL (``https://taxii.example/api1/collections/<id>/``). The first poll reads
every object, page by page (``Get Objects`` with ``limit`` and ``next``); the server tells with each page when it
added the page's last object (``X-TAXII-Date-Added-Last``), which is kept as the feed's validator, and the next poll
asks only for the objects added after it (``added_after``). A poll that finds nothing new is "not modified".

taxii2-client speaks through ``requests``, which blocks: :func:`read_collection` runs in a worker thread (the
fetcher sees to it). Its bounds: ``max_bytes`` over all pages together, the decoded bytes counted as they arrive;
at most :data:`MAX_PAGES` pages per poll; the feed's ``timeout`` for the whole read, each socket operation timing
out sooner. A read stopped by the page bound or the deadline after a whole page keeps what it read, and the next
poll goes on from there. TLS certificates are verified (the system's store, or the fetcher's ``ca_file``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import structlog
from requests.adapters import HTTPAdapter
from taxii2client.common import _HTTPConnection  # type: ignore[import-untyped]
from taxii2client.exceptions import (  # type: ignore[import-untyped]
    AccessError,
    InvalidJSONError,
    TAXIIServiceException,
)
from taxii2client.v21 import Collection, as_pages  # type: ignore[import-untyped]
from urllib3.exceptions import ReadTimeoutError

from alertd.domain.errors import FetchError
from alertd.domain.feeds import FeedConfig, Validators
from alertd.intake.credentials import SecretFileError, read_secret
from alertd.intake.formats import taxii as envelopes
from alertd.intake.formats.jsondoc import utc_timestamp

log = structlog.get_logger(__name__)

# taxii2-client logs through a handler of its own on stderr, beside alertd's JSON lines; its one warning (a server
# sending fewer objects than asked per page) is ordinary and handled by as_pages itself.
logging.getLogger("taxii2client").setLevel(logging.ERROR)

PER_PAGE = 1000  # objects asked for per page; a server may send fewer (medallion's default maximum is 100)
MAX_PAGES = 200  # per poll: a larger collection is read over several polls
# No redirect is followed: requests connects to a redirect's target before any hook could check it against the reach
# rules (contract §2, "Reach"); a collection's URL is the one the operator wrote.
MAX_REDIRECTS = 0
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
CHUNK = 64 * 1024  # bytes read (and, when the server compresses, inflated) at a time, counted against the cap
DATE_ADDED_FIRST = "X-TAXII-Date-Added-First"
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
_NEVER = datetime.min.replace(tzinfo=UTC)
#: Under systemd, the password of a feed without ``password_file`` is this credential (``%s``: the feed's id).
CREDENTIAL_NAME = "feed-%s-password"


@dataclass(frozen=True, slots=True)
class CollectionRead:
    """What one poll read of a collection: its objects as one STIX bundle (``b""`` when nothing was added since
    the last poll), the validators for the next poll, whether the bundle is the whole collection (a first read
    to the end) or only what was added since, and how many pages it took."""

    not_modified: bool
    body: bytes
    validators: Validators
    complete: bool
    pages: int


class _OutOfTime(FetchError):
    """The feed's timeout passed during a request: the pages read before it are kept, if there are any."""


class _Budget:
    """The bytes and the time left to the whole read of a collection, all requests and pages together."""

    def __init__(self, max_bytes: int, timeout: float, shown: str) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.shown = shown
        self.used = 0

    def time_left(self) -> float:
        """Seconds until the deadline; :class:`_OutOfTime` once it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out()
        return left

    def timed_out(self) -> FetchError:
        """The error for a socket timeout: the feed's timeout when it is (all but) spent, else the server's delay."""
        if self.deadline - time.monotonic() < 1.0:  # the socket timeouts end with the deadline when it is nearer
            return _OutOfTime(
                f"{self.shown}: timed out after {self.timeout:g}s; raise the feed's 'timeout' if it is slow"
            )
        return FetchError(f"{self.shown}: the server did not answer within {READ_TIMEOUT:g}s")

    def take(self, size: int) -> None:
        """Count ``size`` more bytes read; :class:`FetchError` past ``max_bytes``."""
        self.used += size
        if self.used > self.max_bytes:
            raise FetchError(
                f"{self.shown}: the collection's pages hold more than max_bytes {self.max_bytes} together; raise the "
                "feed's 'max_bytes' if it is expected"
            )


class _CappedAdapter(HTTPAdapter):
    """Every response read in bounded chunks against the :class:`_Budget`, with timeouts from it.

    taxii2-client asks ``requests`` for whole responses (``resp.json()``); left alone, requests would read a body
    of any size, without a deadline. Here each body is streamed, counted and only then handed over as read.
    """

    def __init__(self, budget: _Budget, ca_file: Path | None) -> None:
        super().__init__(max_retries=0)
        self.budget = budget
        self.ca_file = str(ca_file) if ca_file else None
        self.last_headers: Mapping[str, str] = {}

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        left = self.budget.time_left()
        limits = (min(CONNECT_TIMEOUT, left), min(READ_TIMEOUT, left))
        if self.ca_file is not None:
            # requests lets REQUESTS_CA_BUNDLE override a session's own bundle (trust_env): the feed's CA wins here.
            verify = self.ca_file
        try:
            response = super().send(request, stream=True, timeout=limits, verify=verify, cert=cert, proxies=proxies)
        except requests.Timeout:
            raise self.budget.timed_out() from None
        try:
            self._check_encoding(response)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.budget.max_bytes - self.budget.used:
                self.budget.take(int(length))  # refused before a byte of it is read
            chunks: list[bytes] = []
            for chunk in response.iter_content(CHUNK):
                self.budget.take(len(chunk))
                self.budget.time_left()
                chunks.append(chunk)
        except requests.ConnectionError as exc:
            # requests reports a read timeout while streaming a body as a connection error.
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise self.budget.timed_out() from None
            raise
        finally:
            response.close()
        # requests has no public way to hand over a body read elsewhere; ``_content`` is what ``.content`` and
        # ``.json()`` return once set.
        response._content = b"".join(chunks)
        self.last_headers = response.headers
        return response

    def _check_encoding(self, response: requests.Response) -> None:
        codings = [c.strip() for c in response.headers.get("Content-Encoding", "").split(",")]
        if len([c for c in codings if c and c.lower() != "identity"]) > 1:
            # Each layer multiplies what a few bytes inflate to, and no server needs two: refused, as fetch.py does.
            raise FetchError(
                f"{self.budget.shown}: the server stacks content encodings; alertd decodes at most one, a stacked "
                "encoding is refused as a likely decompression bomb"
            )


def read_collection(
    feed: FeedConfig,
    validators: Validators,
    shown: str,
    *,
    user_agent: str,
    ca_file: Path | None = None,
    trust_env: bool = True,
) -> CollectionRead:
    """Read the objects added to the collection at ``feed.url`` since ``validators`` (all of them without);
    blocking: run it in a worker thread. Raises :class:`FetchError` (network, HTTP status, size cap, timeout,
    credentials) or :class:`~alertd.domain.errors.ParseError` (an answer that is no TAXII envelope); ``shown`` is
    the url as messages may show it."""
    budget = _Budget(feed.max_bytes, feed.timeout, shown)
    password = read_password(feed) if feed.username else None
    conn = _HTTPConnection(feed.username, password, user_agent=user_agent, version="2.1")
    session: requests.Session = conn.session
    session.trust_env = trust_env  # HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE, as for the other feeds
    session.max_redirects = MAX_REDIRECTS
    adapter = _CappedAdapter(budget, ca_file)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    added_after = validators.last_modified
    try:
        with Collection(feed.url, conn=conn) as collection:
            return _read_pages(feed, collection, adapter, added_after)
    except FetchError:
        raise
    except requests.HTTPError as exc:
        raise FetchError(_http_error(shown, exc.response)) from None
    except requests.exceptions.SSLError:
        raise FetchError(f"{shown}: TLS failed: the server's certificate is not trusted or does not match") from None
    except requests.ConnectionError:
        raise FetchError(f"{shown}: cannot connect (refused, unreachable, or the connection was cut)") from None
    except requests.TooManyRedirects:
        raise FetchError(
            f"{shown}: the server redirects, and a taxii feed follows no redirect; write its final URL"
        ) from None
    except requests.RequestException as exc:
        raise FetchError(f"{shown}: {type(exc).__name__}") from None
    except AccessError:
        raise FetchError(f"{shown}: the collection does not allow reading (can_read is false)") from None
    except InvalidJSONError:
        raise FetchError(
            f"{shown}: the server's answer is not JSON; check that the url is a TAXII 2.1 collection's"
        ) from None
    except TAXIIServiceException as exc:
        # Its messages quote only headers and our own URL, never a response body; the first line says it all.
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise FetchError(f"{shown}: not a TAXII 2.1 answer: {reason}") from None


def _read_pages(feed: FeedConfig, collection: Any, adapter: _CappedAdapter, added_after: str | None) -> CollectionRead:
    """The pages of ``Get Objects`` (added after ``added_after``, when set), within the page bound and deadline."""
    objects: list[dict[str, Any]] = []
    dates: list[str] = []  # when the server added the first and last object of each page read, as it wrote them
    pages = 0
    resume: str | None = None  # set when the read stops before the end: where the next poll goes on from
    pager = as_pages(collection.get_objects, per_request=PER_PAGE, added_after=added_after)
    try:
        for envelope in pager:
            pages += 1
            objects.extend(envelopes.envelope_objects(feed.id, envelope))
            dates += [d for d in (adapter.last_headers.get(h) for h in (DATE_ADDED_FIRST, DATE_ADDED_LAST)) if d]
            if envelope.get("more") is True and pages >= MAX_PAGES:
                resume = _resume_point(dates, added_after)
                if resume is not None:
                    log.warning("collection read up to the page bound; the rest next poll", feed=feed.id, pages=pages)
                    break
    except _OutOfTime:
        resume = _resume_point(dates, added_after)
        if resume is None:
            raise  # nothing read that the next poll could go on from
        log.warning("collection read up to the feed's timeout; the rest next poll", feed=feed.id, pages=pages)
    finally:
        pager.close()
    if resume is not None:
        return CollectionRead(False, envelopes.bundle(objects), Validators(None, resume), complete=False, pages=pages)
    if not objects and added_after is not None:
        return CollectionRead(True, b"", Validators(None, added_after), complete=False, pages=pages)
    last_added = max(dates, key=_moment, default=None)
    if last_added is None or utc_timestamp(last_added) is None:
        # The server does not say when it added objects: every poll reads the whole collection, as a document.
        return CollectionRead(False, envelopes.bundle(objects), Validators(None, None), complete=True, pages=pages)
    return CollectionRead(False, envelopes.bundle(objects), Validators(None, last_added), added_after is None, pages)


def _moment(date: str) -> datetime:
    """A date the server wrote, for comparing (servers write them with more or fewer decimals)."""
    return utc_timestamp(date) or _NEVER


def _resume_point(dates: list[str], added_after: str | None) -> str | None:
    """Where a read stopped before the end goes on from: the latest date read that is earlier than the last one.

    Objects come sorted by when they were added, and several added at once share that date: some of those added
    with the last object read may be on the pages not read yet. Going on from after the last date would skip them;
    going on from the date before re-reads a few objects instead (harmless: an entry seen again is unchanged).
    None when there is no such date later than ``added_after``: the read cannot stop there and make progress.
    """
    if not dates:
        return None
    last = max(_moment(d) for d in dates)
    earlier = [d for d in dates if _moment(d) < last]
    if not earlier:
        return None
    point = max(earlier, key=_moment)
    if added_after is not None and _moment(point) <= _moment(added_after):
        return None
    return point


def _http_error(shown: str, response: requests.Response | None) -> str:
    """An HTTP error status, as a message saying what the operator can do (never quoting the body)."""
    if response is None:
        return f"{shown}: HTTP error"
    status = response.status_code
    text = f"{shown}: HTTP {status} {response.reason or ''}".rstrip()
    if status in (401, 403):
        text += "; check the feed's 'username' and password"
    elif status == 404:
        text += "; check the collection's URL (https://…/<api root>/collections/<id>/)"
    elif status == 406:
        text += "; the server does not speak TAXII 2.1"
    return text


def read_password(feed: FeedConfig, *, environ: Mapping[str, str] | None = None) -> str:
    """The feed's password from its ``password_file`` (trailing newline stripped), or from the systemd credential
    ``feed-<id>-password`` when the file is not set or does not exist; errors never quote the file's content."""
    env = os.environ if environ is None else environ
    credential = CREDENTIAL_NAME % feed.id
    try:
        found = read_secret(feed.password_file, credential, environ=env)
    except SecretFileError as exc:
        raise FetchError(f"feed {feed.id!r}: the password file {exc}") from None
    if found is not None:
        return found[1]
    where = f"the password file {feed.password_file} does not exist" if feed.password_file else "no password_file"
    raise FetchError(
        f"feed {feed.id!r}: {where}, and no systemd credential {credential!r} is set; write the password in a file "
        "named by the feed's 'password_file'"
    )


__all__ = ["CREDENTIAL_NAME", "MAX_PAGES", "PER_PAGE", "CollectionRead", "read_collection", "read_password"]
