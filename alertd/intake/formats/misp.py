"""MISP events (format ``misp``): a MISP feed directory (``manifest.json`` and one file per event) or one event.

:func:`expand` turns a feed's ``manifest.json`` into the URLs of its event files; :func:`parse` reads one event
document, in the feed layout (``{"Event": {...}}``) or as a REST export (``{"response": [{"Event": {...}}]}``).
Every attribute flagged ``to_ids`` whose type names a network indicator or a hash becomes one observation, be it
at the event level or inside a MISP object. MISP writes its numbers and flags as strings (``"1"``,
``"1777986041"``) as often as JSON numbers and booleans; both are read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import ColumnRole, FeedSpec
from alertd.domain.tlp import Tlp
from alertd.domain.values import Indicator, Observation
from alertd.intake.extract import indicator_for
from alertd.intake.formats import fields
from alertd.intake.formats.entries import bounded_entries
from alertd.intake.formats.jsondoc import load_json, utc_date

MAX_EVENTS = 2000  # event files read from one manifest, newest first (the fetch stage caps them too)
MAX_VALUE = 8192  # longer attribute values are not indicators; they are skipped rather than parsed
MAX_COMMENT = 500
MAX_TITLE = 300
SHORT_COMMENT = 100  # a comment this short is added to the title
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TRUE = frozenset({"1", "true", "yes", "y", "t", "on"})
THREAT_LEVELS = {"1": "high", "2": "medium", "3": "low", "4": "undefined"}
# MISP writes a number as a JSON number as often as a string ("threat_level_id": 1 or "1"): every field reads both.
_text = functools.partial(fields.text, numbers=True)

# MISP attribute type -> (role for indicator_for, which part of a ``a|b`` composite value: 0, 1, or None for
# the whole value). ``domain|ip`` gives two indicators and is handled on its own.
_TYPES: dict[str, tuple[ColumnRole, int | None]] = {
    "ip-src": (ColumnRole.IP, None),
    "ip-dst": (ColumnRole.IP, None),
    "ip-src|port": (ColumnRole.IP, 0),
    "ip-dst|port": (ColumnRole.IP, 0),
    "domain": (ColumnRole.DOMAIN, None),
    "hostname": (ColumnRole.DOMAIN, None),
    "hostname|port": (ColumnRole.DOMAIN, 0),
    "url": (ColumnRole.URL, None),
    "email": (ColumnRole.EMAIL, None),
    "email-src": (ColumnRole.EMAIL, None),
    "email-dst": (ColumnRole.EMAIL, None),
    "md5": (ColumnRole.HASH, None),
    "sha1": (ColumnRole.HASH, None),
    "sha256": (ColumnRole.HASH, None),
    "filename|md5": (ColumnRole.HASH, 1),
    "filename|sha1": (ColumnRole.HASH, 1),
    "filename|sha256": (ColumnRole.HASH, 1),
    "AS": (ColumnRole.ASN, None),
}
_COMPOSITE = "domain|ip"
_PORT_TYPES = frozenset({"ip-src|port", "ip-dst|port", "hostname|port"})


@dataclass(frozen=True, slots=True)
class MispResult:
    """What one event document held: the observations, and how many attributes were read and set aside."""

    observations: list[Observation]
    events: int
    attributes: int  # attributes seen (event level and in objects), deleted ones excluded
    not_ids: int  # attributes not flagged to_ids
    unsupported: int  # to_ids attributes of a type that names no indicator (filename, regkey, text...)
    invalid: int  # to_ids attributes of a supported type whose value is not a valid indicator


def expand(feed: FeedSpec, body: bytes, url: str) -> list[str] | None:
    """For a MISP feed's ``manifest.json``, the URLs of its event files, newest ``timestamp`` first (at most
    :data:`MAX_EVENTS`); None when the body is an event document (or not a manifest: :func:`parse` says why)."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or "Event" in data or "response" in data:
        return None
    if not data:
        return []  # an empty feed
    listed: list[tuple[int, str]] = []
    for key, value in data.items():
        # The key becomes part of a URL: only a plain UUID is taken, never a path.
        if _UUID.fullmatch(key):
            stamp = _epoch(value.get("timestamp")) if isinstance(value, dict) else None
            listed.append((int(stamp.timestamp()) if stamp else 0, key))
    if not listed:
        return None
    listed.sort(key=lambda pair: -pair[0])  # stable: manifest order among equal timestamps
    return [urljoin(url, f"{key}.json") for _, key in listed[:MAX_EVENTS]]


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """One observation per ``to_ids`` attribute that names an indicator; see :func:`read`."""
    return read(feed, body).observations


def read(feed: FeedSpec, body: bytes) -> MispResult:
    """Like :func:`parse`, with the counts of attributes read and set aside (for the fetcher's logs).

    Raises :class:`ParseError` when the body is not JSON or is neither an event nor a REST export of events.
    """
    data = load_json(feed, body, "the MISP document")
    events = _events(data)
    if events is None:
        raise ParseError(
            f'feed {feed.id!r}: the document is neither a MISP event ({{"Event": ...}}) nor a REST export '
            '({"response": [{"Event": ...}]}); for a MISP feed, point the url at its manifest.json'
        )
    counts = _Counts()
    observations = bounded_entries(feed, (o for event in events for o in _event_observations(feed, event, counts)))
    return MispResult(observations, len(events), counts.attributes, counts.not_ids, counts.unsupported, counts.invalid)


@dataclass(slots=True)
class _Counts:
    attributes: int = 0
    not_ids: int = 0
    unsupported: int = 0
    invalid: int = 0


def _events(data: Any) -> list[dict[str, Any]] | None:
    """The event objects of a feed-format or REST-export document; None for any other document."""
    if not isinstance(data, dict):
        return None
    if "Event" in data:
        event = data["Event"]
        return [event] if isinstance(event, dict) else None
    response = data.get("response")
    if isinstance(response, dict):
        response = [response]
    if not isinstance(response, list):
        return None
    return [item["Event"] for item in response if isinstance(item, dict) and isinstance(item.get("Event"), dict)]


def _event_observations(feed: FeedSpec, event: dict[str, Any], counts: _Counts) -> Iterator[Observation]:
    uuid = _text(event.get("uuid"), 64)
    info = fields.one_line(_text(event.get("info"), MAX_COMMENT))
    tags = [_text(tag.get("name"), 200) for tag in fields.mappings(event.get("Tag"))]
    tags = [tag for tag in tags if tag]
    orgc = event.get("Orgc")
    base: dict[Fact | str, str] = {
        "event": uuid,
        "event_info": info,
        "threat_level": THREAT_LEVELS.get(_text(event.get("threat_level_id"), 8), ""),
        "org": _text(orgc.get("name"), 200) if isinstance(orgc, dict) else "",
        "tags": ", ".join(tags)[:MAX_COMMENT],
    }
    tlp = next((tag.partition(":")[2].strip().lower() for tag in tags if tag.lower().startswith("tlp:")), "")
    if tlp:
        base["tlp"] = tlp
    event_date = utc_date(_text(event.get("date"), 32))
    context = _Event(feed, uuid, info or f"MISP event {uuid}".strip(), base, event_date, marking(tags))
    for attribute in fields.mappings(event.get("Attribute")):
        observation = _attribute(context, attribute, None, counts)
        if observation is not None:
            yield observation
    for obj in fields.mappings(event.get("Object")):
        if _flag(obj.get("deleted")):
            continue
        name = _text(obj.get("name"), 100)
        for attribute in fields.mappings(obj.get("Attribute")):
            observation = _attribute(context, attribute, name, counts)
            if observation is not None:
                yield observation


@dataclass(frozen=True, slots=True)
class _Event:
    feed: FeedSpec
    uuid: str
    title: str
    facts: dict[Fact | str, str]
    date: datetime | None
    tlp: Tlp | None  # the event's own marking; an attribute's tags may make it stricter


def marking(tags: Iterable[str]) -> Tlp | None:
    """The strictest of the ``tlp:`` tags (MISP's TLP taxonomy); None when there is none. A tag of the taxonomy
    alertd cannot read (``tlp:ex:chr``, ``tlp:unclear``) counts as ``RED`` (fail closed)."""
    found = [Tlp.parse(tag) for tag in tags if tag.strip().lower().startswith("tlp:")]
    return Tlp.strictest(found) if found else None


def _attribute(event: _Event, attribute: dict[str, Any], obj: str | None, counts: _Counts) -> Observation | None:
    if _flag(attribute.get("deleted")):
        return None
    counts.attributes += 1
    if not _flag(attribute.get("to_ids")):
        counts.not_ids += 1
        return None
    kind = _text(attribute.get("type"), 64)
    raw = attribute.get("value")
    if kind != _COMPOSITE and kind not in _TYPES:
        counts.unsupported += 1
        return None
    value = raw.strip() if isinstance(raw, str) else str(raw) if isinstance(raw, int) else ""
    if not value or len(value) > min(MAX_VALUE, event.feed.max_field_bytes):
        counts.invalid += 1
        return None
    indicators = _indicators(kind, value, event.feed.max_field_bytes)
    if not indicators:
        counts.invalid += 1
        return None
    comment = fields.one_line(_text(attribute.get("comment"), MAX_COMMENT))
    facts = dict(event.facts)
    facts.update(category=_text(attribute.get("category"), 100), type=kind, comment=comment)
    if obj is not None:
        facts["object"] = obj
    if kind in _PORT_TYPES:
        port = value.rpartition("|")[2].strip()
        if port.isascii() and port.isdigit():
            facts[Fact.PORT] = port
    own = marking(_text(tag.get("name"), 200) for tag in fields.mappings(attribute.get("Tag")))
    markings = [m for m in (event.tlp, own) if m is not None]
    uuid = _text(attribute.get("uuid"), 64)
    entry = uuid or hashlib.sha256("\x1f".join((event.uuid, kind, value)).encode()).hexdigest()[:32]
    title = event.title
    if comment and len(comment) <= SHORT_COMMENT:
        title = f"{title} — {comment}"
    return Observation(
        feed=event.feed.id,
        entry=entry,
        kind=event.feed.kind,
        title=title[:MAX_TITLE],
        indicators=indicators,
        published=_epoch(attribute.get("timestamp")) or event.date,
        facts=Facts.of(facts),
        tlp=Tlp.strictest(markings) if markings else None,
    )


def _indicators(kind: str, value: str, limit: int) -> tuple[Indicator, ...]:
    if kind == _COMPOSITE:
        domain, _, address = value.partition("|")
        found = [indicator_for(domain, ColumnRole.DOMAIN, limit), indicator_for(address, ColumnRole.IP, limit)]
    else:
        role, part = _TYPES[kind]
        if part is not None:
            if "|" not in value:
                return ()
            # The hash is the last part of filename|hash (a file name may hold a "|"); the host the first.
            value = value.rpartition("|")[2] if part == 1 else value.partition("|")[0]
        found = [indicator_for(value, role, limit)]
    unique: list[Indicator] = []
    for indicator in found:
        if indicator is not None and indicator not in unique:
            unique.append(indicator)
    return tuple(unique)


def _flag(value: Any) -> bool:
    """MISP's booleans: true/false, 1/0, or the strings "1"/"0"/"true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return False


def _epoch(value: Any) -> datetime | None:
    """A MISP timestamp (epoch seconds, as a string or a number) as an aware UTC datetime; None for 0 or junk."""
    text = _text(value, 20)
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        return None
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        return None
