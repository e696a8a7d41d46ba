"""What every JSON feed format does alike: read the body (UTF-8, a BOM tolerated, one clear error), or read a
document that is one list item by item, and read its timestamps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import ijson
from ijson.common import ObjectBuilder

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedSpec


def load_json(feed: FeedSpec, body: bytes, what: str, hint: str = "") -> Any:
    """The decoded JSON of ``body``; ParseError naming the feed and ``what`` (e.g. "the KEV catalog") otherwise.

    ``hint`` is appended to the invalid-JSON message: what the operator should check. A document nested too
    deeply for the decoder (a hostile feed) is refused the same way.
    """
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"feed {feed.id!r}: {what} is not UTF-8 ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"feed {feed.id!r}: {what} is not valid JSON ({exc}){'; ' + hint if hint else ''}") from None
    except RecursionError:
        raise ParseError(f"feed {feed.id!r}: {what} nests JSON too deeply to be read") from None


_BOM = b"\xef\xbb\xbf"
# How deep an item of a streamed list may nest: a leak post or a press report is an object of strings (depth 2).
# The bound is what keeps a hostile "[[[[…" cheap: the decoder's prefixes grow with the depth, so an unbounded
# nesting costs memory in the square of it (100,000 levels: gigabytes), where json.loads stops at ~1,000.
MAX_ITEM_DEPTH = 64
_OPEN = frozenset(("start_map", "start_array"))
_CLOSE = frozenset(("end_map", "end_array"))


class _Chunks:
    """The body as a file ijson reads a slice at a time: the BOM skipped without copying the whole body."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, len(_BOM) if body.startswith(_BOM) else 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size < 0 else self.at + size
        chunk, self.at = self.body[self.at : end], min(end, len(self.body))
        return chunk


def list_items(feed: FeedSpec, body: bytes, what: str, not_list: str) -> Iterator[Any]:
    """The items of a JSON document that is one list (``what``, e.g. "the victim list"), decoded one at a time as
    they are read, so a caller that stops early never has the rest of the document as Python objects.

    Raises ParseError with ``not_list`` when the document is not a list, and as :func:`load_json` does when it is
    not UTF-8 or not JSON, or when an item nests deeper than :data:`MAX_ITEM_DEPTH` (only once the items before
    the fault were given: the caller's result is then discarded). A number past 64 bits is refused as not JSON.
    """
    depth = 0
    builder: Any = None
    try:
        # use_float: yajl reads numbers itself (int and float, as json.loads gives them). Without it, ijson 3.6's C
        # backend turns an integer's digits into an int in Python, and past int's digit limit (a 5,000-digit
        # number) it crashed the interpreter: a number yajl cannot hold (past 64 bits) is refused instead.
        for event, value in ijson.basic_parse(_Chunks(body), use_float=True):
            if depth == 0:
                if event != "start_array":
                    raise ParseError(not_list)
                depth = 1
                continue
            if event in _OPEN:
                depth += 1
                if depth > MAX_ITEM_DEPTH + 1:
                    raise ParseError(f"feed {feed.id!r}: {what} nests JSON too deeply to be read")
            elif event in _CLOSE:
                depth -= 1
                if depth == 0:
                    continue  # the list's end: ijson still refuses anything after it but whitespace
            if builder is None:
                builder = ObjectBuilder()
            builder.event(event, value)
            if depth == 1:  # a scalar item, or the end of a list's or an object's
                yield builder.value
                builder = None
    except UnicodeDecodeError as exc:  # a string's bytes, decoded by ijson itself after yajl read them
        raise ParseError(f"feed {feed.id!r}: {what} is not UTF-8 (at byte {exc.start} of a string)") from None
    except ijson.JSONError as exc:
        # yajl's message quotes the document around the fault: only its first line (what went wrong) is told, as
        # error texts never carry a feed's content.
        raw = exc.args[0] if exc.args else ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        first = text.split("\n", 1)[0].strip()
        if "UTF8" in first:
            raise ParseError(f"feed {feed.id!r}: {what} is not UTF-8 ({first})") from None
        raise ParseError(f"feed {feed.id!r}: {what} is not valid JSON ({first})") from None


class Shape:
    """What a streamed list held, told while its items pass: whether it had items, whether any was an object
    with the format's ``key``, and whether any had the ``other`` key (a sibling format's, for a helpful error)."""

    def __init__(self, key: str, other: str) -> None:
        self.key, self.other_key = key, other
        self.items = self.found = self.other = False

    def objects(self, items: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """The items that are JSON objects, noting the shape of each as it passes."""
        for item in items:
            self.items = True
            if isinstance(item, dict):
                self.found = self.found or self.key in item
                self.other = self.other or self.other_key in item
                yield item


def utc_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 date-time (the feeds' many forms: ``…Z``, ``…+00:00``, no zone, no seconds) as aware UTC.

    A value without a zone is taken as UTC, as NVD, CSAF, CERT-FR and the leak sites mean it; anything else gives
    None.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        # A date at the edge of the calendar (0001-01-01T00:00+01:00) has no UTC time: as unreadable as nonsense.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def source_time(text: str | None) -> datetime | None:
    """A date a source writes in a text field (a blocklist's ``first_seen`` or ``last_online``: ``2024-04-01``,
    ``2024-04-01 10:00:00``, a `` UTC`` or `` (UTC)`` suffix, ISO 8601) as aware UTC, as :func:`utc_timestamp`
    reads it; None for no text or text that is no date."""
    if not text:
        return None
    return utc_timestamp(text.strip().removesuffix("(UTC)").removesuffix("UTC").strip())


def utc_date(text: str) -> datetime | None:
    """A ``YYYY-MM-DD`` date (KEV's ``dateAdded``, a MISP event's ``date``) as midnight UTC; None for anything else."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
