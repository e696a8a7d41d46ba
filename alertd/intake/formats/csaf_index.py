"""A CSAF provider's listings (format ``csaf``): the documents an ``index.txt``, ``changes.csv`` or ROLIE feed lists.

A provider publishes its advisories in a directory with an ``index.txt`` (one path a line) or a ``changes.csv``
(``"path","timestamp"``, newest first), and in ROLIE feeds; :func:`expand` turns either into the absolute URLs of
the documents to fetch, each then read by :func:`alertd.intake.formats.csaf.parse`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from alertd.domain.feeds import FeedSpec
from alertd.intake.formats import fields
from alertd.intake.formats.jsondoc import utc_timestamp

MAX_URL = fields.MAX_URL
MAX_DOCUMENTS = 2000  # listed by one index or ROLIE feed


def expand(feed: FeedSpec, body: bytes, url: str) -> list[str] | None:
    """The absolute URLs of the CSAF documents an ``index.txt``, ``changes.csv`` or ROLIE feed lists, newest
    first where the listing tells; None when the body is one document (or unreadable: :func:`parse` says why).

    Lines that are comments, not ``.json``, climbing out with ``..``, or using another scheme than ``url`` are
    skipped; at most the first 2000 documents are returned.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            return None
        if isinstance(data, dict) and isinstance(data.get("feed"), dict):
            return _rolie(data["feed"], url)
        return None
    if stripped.startswith("<") or not stripped:
        return None  # HTML, XML or nothing: not a listing
    return _listing(text, url)


# -- listings ----------------------------------------------------------------------------------------------


def _listing(text: str, base: str) -> list[str]:
    """``index.txt`` (one path a line) or ``changes.csv`` (``"path","timestamp"``, newest first)."""
    first: dict[str, datetime | None] = {}  # a path listed twice keeps its first place
    for line in text.splitlines()[: MAX_DOCUMENTS * 10]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path, _, stamp = line.partition(",")
        first.setdefault(path.strip().strip('"').strip(), utc_timestamp(stamp.strip().strip('"')))
    entries = list(first.items())
    if any(when is not None for _, when in entries):
        entries.sort(key=lambda e: e[1] or datetime.min.replace(tzinfo=UTC), reverse=True)
    elif any(_year(path) for path, _ in entries):
        # The directory layout puts each document under the year of its first release: newest years first,
        # and within a year the later lines (index.txt is usually sorted by name, hence by number) first.
        entries.reverse()
        entries.sort(key=lambda e: _year(e[0]), reverse=True)
    return _resolve([path for path, _ in entries], base, rooted=False)


def _year(path: str) -> int:
    """The year folder a document sits in (``2024/icsma-24-200-01.json``); 0 when there is none."""
    folder = path.rpartition("/")[0].rpartition("/")[2]
    return int(folder) if len(folder) == 4 and folder.isdigit() else 0


def _rolie(feed: dict[str, Any], base: str) -> list[str]:
    """A ROLIE feed's entries: ``content.src``, else the ``self`` link; the most recently updated first."""
    entries: list[tuple[str, datetime | None]] = []
    for entry in fields.items(feed.get("entry"))[: MAX_DOCUMENTS * 10]:
        if not isinstance(entry, dict):
            continue
        href = fields.mapping(entry.get("content")).get("src")
        if not isinstance(href, str):
            links = [link for link in fields.items(entry.get("link")) if isinstance(link, dict)]
            href = next((link.get("href") for link in links if link.get("rel") == "self"), None)
        if isinstance(href, str):
            entries.append((href, utc_timestamp(entry.get("updated")) or utc_timestamp(entry.get("published"))))
    entries.sort(key=lambda e: e[1] or datetime.min.replace(tzinfo=UTC), reverse=True)
    return _resolve([href for href, _ in entries], base, rooted=True)


def _resolve(refs: list[str], base: str, rooted: bool) -> list[str]:
    """Absolute URLs of the refs that are safe to fetch: same scheme as ``base``, no ``..``, ending ``.json``."""
    scheme = urlsplit(base).scheme.lower()
    urls: dict[str, None] = {}
    for ref in refs:
        if not ref or len(ref) > MAX_URL or any(c.isspace() or c == "\\" for c in ref) or fields.CONTROL.search(ref):
            continue
        try:
            parts = urlsplit(ref)
            absolute = urljoin(base, ref)
            target = urlsplit(absolute)
        except ValueError:  # e.g. a malformed IPv6 host
            continue
        if not parts.scheme and (ref.startswith("//") or (ref.startswith("/") and not rooted)):
            continue  # another host, or out of the listing's directory
        if ".." in unquote(parts.path).split("/"):
            continue
        if target.scheme.lower() != scheme or not target.path.lower().endswith(".json"):
            continue
        urls.setdefault(absolute)
        if len(urls) > MAX_DOCUMENTS:
            break  # one more than are read: the poll knows the index went on, and resolves nothing it did not read
    return list(urls)
