"""RSS 0.9x/1.0/2.0 and Atom bulletins (format ``rss``) through feedparser: one observation per entry.

The body is checked with defusedxml before feedparser sees it: a document that declares XML entities
(billion laughs, external entities reading local files or URLs) is refused outright, since no real
advisory feed needs them.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import defusedxml
import defusedxml.ElementTree
import feedparser

from alertd.domain.errors import ParseError
from alertd.domain.facts import NO_FACTS, Fact, Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.values import FeedKind, IndicatorType, Observation
from alertd.intake import topics
from alertd.intake.extract import MAX_TEXT, extract_indicators
from alertd.intake.formats import fields

# HTML is stripped by scanning, not by lazy expressions such as ``<!--.*?-->`` or ``<[^>]*>``: tried from every
# "<" of a title of 320,000 "&lt;" (or "<!--" never closed), each ran to the end of the text, and the whole
# process froze for two minutes (issue #13). Each scan below reads every character a bounded number of times.
_SCRIPT_OPEN = re.compile(r"<(script|style)\b", re.IGNORECASE)
_SCRIPT_CLOSE = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}
# A decimal character reference of many digits: html.unescape() hands them to int(), which refuses more than
# 4,300 digits (ValueError: the whole feed would fail) and is quadratic below that. Its value is cut down first.
_LONG_CHARREF = re.compile(r"&#([0-9]{8,})(;?)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
# Characters of one field (title, summary, each content) read unless the feed sets ``max_field_bytes``: a field cut
# there keeps its start.
MAX_MARKUP = MAX_TEXT
# Characters of an entry's markup read for its summary: enough for the tags around MAX_SUMMARY characters of text,
# and a bound on what the tag-stripping expressions see whatever the feed sends.
MAX_SUMMARY_MARKUP = fields.MAX_SUMMARY * 6


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """The feed's entries as observations, with the indicators written in their text.

    Raises :class:`ParseError` for an empty body, XML that declares entities, or a document that is not a
    feed (an HTML error page served in its place).
    """
    if not body.strip():
        raise ParseError(f"feed {feed.id!r}: the body is empty; expected an RSS or Atom document")
    _refuse_entities(feed, body)
    # A stream, never the bytes themselves: feedparser.parse() treats a bytes argument it can open() as a
    # file name, so a body such as b"/etc/passwd" would be read from disk.
    try:
        parsed: Any = feedparser.parse(io.BytesIO(body))
    except (ValueError, LookupError) as exc:
        # feedparser decodes by the XML declaration's encoding and lets a broken one escape (b"\x80UTF-8": a
        # UnicodeDecodeError; a NUL in it: ValueError), found by fuzzing: the feed's failure, not a parser crash.
        raise ParseError(
            f"feed {feed.id!r}: the document cannot be decoded as its XML declaration says ({exc.__class__.__name__})"
        ) from None
    entries: list[Any] = list(parsed.get("entries") or [])
    if not entries and not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        detail = f" ({reason})" if parsed.get("bozo") and reason else ""
        raise ParseError(
            f"feed {feed.id!r}: the document is not an RSS or Atom feed{detail}; "
            f"{_looks_like(body)} — check the url (an error or login page?)"
        )
    return [_observation(feed, entry) for entry in entries]


def _refuse_entities(feed: FeedSpec, body: bytes) -> None:
    """Refuse XML that declares entities or refers to external ones, before any parser expands them."""
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise ParseError(
            f"feed {feed.id!r}: refused: the XML declares entities or external references ({exc!r}); "
            "advisory feeds never need them, and expanding them allows billion-laughs and XXE attacks"
        ) from None
    except (ET.ParseError, ValueError, LookupError):
        # Not well-formed, so expat may have stopped before the DOCTYPE: look for declarations by hand
        # (feedparser would fall back to its lenient parser on such a document).
        if _ENTITY_DECL.search(_sniff_text(body)):
            raise ParseError(
                f"feed {feed.id!r}: refused: the document declares XML entities (<!ENTITY); advisory feeds "
                "never need them, and expanding them allows billion-laughs and XXE attacks"
            ) from None


def _sniff_text(body: bytes) -> str:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or body[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        return body.decode("utf-16", errors="replace")
    return body.decode("utf-8", errors="replace")


def _looks_like(body: bytes) -> str:
    """What a document that is not a feed looks like, in our words: its own text (an error page's, or a hostile
    server's) is never repeated in an error (contract §2, "Reach")."""
    head = _sniff_text(body[:1024]).lstrip().lower()
    if "<html" in head or head.startswith("<!doctype html"):
        return "it is an HTML page"
    if head.startswith(("{", "[")):
        return "it looks like JSON"
    if head.startswith("<"):
        return "it is XML of another kind"
    return "it is neither XML nor HTML"


def _observation(feed: FeedSpec, entry: Any) -> Observation:
    limit = feed.max_field_bytes
    title = strip_html(fields.text(entry.get("title"), limit))
    summary = strip_html(fields.text(entry.get("summary"), limit))
    parts = [title, summary]
    contents = [fields.text(content.get("value"), limit) for content in entry.get("content") or []]
    # An entry of many contents is read, and kept, no further than the entry's cap; a set, not the list, tells a
    # repeated content, so thousands of them cost no more than their length.
    seen, length = set(parts), len(title) + len(summary)
    for content in contents:
        if length >= feed.max_entry_bytes:
            break
        value = strip_html(content)
        if value and value not in seen:
            parts.append(value)
            seen.add(value)
            length += len(value) + 1
    text = " ".join(p for p in parts if p)[: feed.max_entry_bytes]
    indicators = extract_indicators(text, feed.max_entry_bytes)
    link = fields.text(entry.get("link")) or None
    entry_id = fields.text(entry.get("id")) or link
    if not entry_id:
        entry_id = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()[:32]
    cves = [i.value for i in indicators if i.type is IndicatorType.CVE]
    facts: dict[Fact | str, str] = {}
    if cves:
        facts[Fact.CVES] = ", ".join(cves)
    # The entry's own words: its description (RSS) or summary (Atom), else its content.
    own = summary_text(fields.text(entry.get("summary"), limit) or next((c for c in contents if c), ""))
    if own and own != title:
        facts[Fact.SUMMARY] = own
    if feed.kind is FeedKind.ADVISORY:
        topic = topics.classify(title, own)
        if topic is not None:
            facts[Fact.TOPIC] = topic.value
    return Observation(
        feed=feed.id,
        entry=entry_id,
        kind=feed.kind,
        title=title or summary[:120] or entry_id,
        indicators=indicators,
        text=text,
        link=link,
        published=_published(entry),
        facts=Facts.of(facts) if facts else NO_FACTS,
    )


def summary_text(markup: str) -> str:
    """An entry's description as its ``summary`` fact: its first :data:`MAX_SUMMARY_MARKUP` characters (cut before
    any expression reads them), a tag cut there dropped, HTML stripped, on one line, cut at a word to
    :data:`~alertd.intake.formats.fields.MAX_SUMMARY` characters."""
    head = markup[:MAX_SUMMARY_MARKUP]
    if len(markup) > MAX_SUMMARY_MARKUP and head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]  # a tag the cut opened and did not close would read as text
    return fields.summary(strip_html(head))


def strip_html(markup: str) -> str:
    """Plain text from an HTML fragment: tags, scripts and comments dropped, entities decoded, whitespace
    collapsed, control characters removed. Linear in the length of ``markup``, which callers bound
    (:data:`MAX_MARKUP`)."""
    text = _drop_tags(_drop_comments(_drop_scripts(markup)))
    text = html.unescape(_LONG_CHARREF.sub(_short_charref, text))
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def _short_charref(reference: re.Match[str]) -> str:
    """A decimal reference without its leading zeros, or U+FFFD (what unescape() gives) past U+10FFFF."""
    digits = reference.group(1).lstrip("0")
    return "\ufffd" if len(digits) > 7 else f"&#{digits or '0'}{reference.group(2)}"


def _drop_scripts(markup: str) -> str:
    """``<script …>…</script>`` and ``<style …>…</style>`` (any case) replaced by a space; an element never
    closed is left to :func:`_drop_tags`, as ``re.sub(r"<(script|style)\\b.*?</\\1\\s*>", " ", …)`` would."""
    pieces: list[str] = []
    end = 0
    unclosed: set[str] = set()  # once no closing tag follows one opening, none follows a later one either
    for opening in _SCRIPT_OPEN.finditer(markup):
        if opening.start() < end:
            continue  # inside the element just dropped
        name = "script" if opening.group(1)[1] in "cC" else "style"
        if name in unclosed:
            continue
        closing = _SCRIPT_CLOSE[name].search(markup, opening.end())
        if closing is None:
            unclosed.add(name)
            continue
        pieces += (markup[end : opening.start()], " ")
        end = closing.end()
    return "".join(pieces) + markup[end:] if pieces else markup


def _drop_comments(markup: str) -> str:
    """``<!--…-->`` replaced by a space; an unclosed ``<!--`` kept."""
    return _drop_between(markup, "<!--", "-->")


def _drop_tags(markup: str) -> str:
    """Every ``<…>`` replaced by a space (the first ``>`` closes it); a ``<`` never closed kept."""
    return _drop_between(markup, "<", ">")


def _drop_between(markup: str, opening: str, closing: str) -> str:
    pieces: list[str] = []
    end = 0
    while (start := markup.find(opening, end)) >= 0:
        stop = markup.find(closing, start + len(opening))
        if stop < 0:
            break  # no later opening can be closed either
        pieces += (markup[end:start], " ")
        end = stop + len(closing)
    return "".join(pieces) + markup[end:] if pieces else markup


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            # feedparser normalises dates to UTC struct_time
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    return None
