"""Leak-site victim lists (format ``leak-victims``): one observation per post naming a victim.

Two JSON shapes are read, both a list of posts: ransomwatch's ``posts.json`` (``post_title``, ``group_name``,
``discovered``) and ransomware.live's ``recentvictims`` (the same, plus ``published``, ``country``, ``activity``,
``website``, ``post_url``, ``description``...). Leak sites write titles carelessly: HTML entities (``&amp;``),
stray whitespace, names cut short (``hancockassociat...``), metadata run into the name
(``ghimli.com\\$189.1M\\Australia\\88GB``), markers (``www.clevo.com.tw<UPDATED>``). The cleaned name is the
observation's text, scanned for establishment names; the victim's website, and the name itself when it is a
domain, are its indicators. Descriptions are scraped marketing text and are left out of the scan: they would
name other organisations than the victim.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from typing import Any

import pycountry

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import ColumnRole, FeedSpec
from alertd.domain.values import Indicator, Observation
from alertd.intake.extract import FILE_EXTENSIONS, indicator_for, refang
from alertd.intake.formats import fields
from alertd.intake.formats.entries import Entries, bounded_entries
from alertd.intake.formats.jsondoc import Shape, list_items, utc_timestamp

MAX_RAW_TITLE = 2000  # characters of a title read; leak-site titles are names, not documents
MAX_TITLE = 300
MAX_ATTR = 200
MAX_LINK = 2000
_MARKER = re.compile(r"<[^<>]{0,40}>")  # "<UPDATED>", stray tags
_ELLIPSIS = ("...", "\u2026")
_LEADING_HOST = re.compile(r"[\w.-]+")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]{0,15}://")


def parse(feed: FeedSpec, body: bytes) -> Entries:
    """One observation per post with a victim name; posts without one, and repeats, are skipped. The list is read
    one post at a time, up to the feed's ``max_entries`` (``cut`` then).

    Raises :class:`ParseError` when the body is not JSON, not a list, or a list none of whose items is a post
    (press reports among them: format ``press-reports`` reads those).
    """
    items = list_items(
        feed,
        body,
        "the victim list",
        f"feed {feed.id!r}: the document is not a JSON list of leak-site posts; format 'leak-victims' reads "
        "ransomwatch posts.json and ransomware.live recentvictims",
    )
    shape = Shape("post_title", "victim")
    observations = bounded_entries(feed, (_observation(feed, post) for post in shape.objects(items)))
    if shape.items and not shape.found:
        # Not an empty list, yet no post in it: a shape this format does not read must not pass for "no victims".
        if shape.other:
            raise ParseError(
                f"feed {feed.id!r}: the list holds press reports (ransomware.live allcyberattacks: 'victim', "
                "'domain', 'country'), not leak-site posts; use format 'press-reports' for this feed"
            )
        raise ParseError(
            f"feed {feed.id!r}: no item of the list is a leak-site post (an object with 'post_title'); format "
            "'leak-victims' reads ransomwatch posts.json and ransomware.live recentvictims"
        )
    return observations


def clean_title(raw: str) -> str:
    """A leak-site title as a reader should see it: entities decoded, markers and control characters removed,
    whitespace collapsed."""
    return fields.clean(_MARKER.sub(" ", html.unescape(raw[:MAX_RAW_TITLE])), MAX_RAW_TITLE, invisible=True)


def _observation(feed: FeedSpec, post: dict[str, Any]) -> Observation | None:
    raw = post.get("post_title")
    if not isinstance(raw, str):
        return None
    full = clean_title(raw)
    # Some sites run metadata into the title, separated by backslashes: name\revenue\country\size.
    parts = [part.strip() for part in full.split("\\")]
    name = next((part for part in parts if part), "")
    if not name:
        return None
    details = [part for part in parts[parts.index(name) + 1 :] if part]
    truncated = name.endswith(_ELLIPSIS)
    words = name.removesuffix("...").removesuffix("\u2026").rstrip() if truncated else name
    if not words:
        return None
    group = fields.clean(post.get("group_name"), 100, invisible=True)

    indicators: list[Indicator] = []
    for indicator in (website(post.get("website")), _title_host(words, truncated)):
        if indicator is not None and indicator not in indicators:
            indicators.append(indicator)
    discovered = fields.clean(post.get("discovered"), 64, invisible=True)
    facts: dict[Fact | str, str] = {
        Fact.GROUP: group,
        "country": fields.clean(post.get("country"), 64, invisible=True),
        "activity": fields.clean(post.get("activity"), MAX_ATTR, invisible=True),
        "discovered": discovered,
    }
    code = country_code(facts["country"])
    if code:
        facts[Fact.COUNTRY_CODE] = code
    if details:
        facts["details"] = ", ".join(details)[:MAX_ATTR]
    key = "\x1f".join((group.casefold(), full.casefold()))
    return Observation(
        feed=feed.id,
        entry=hashlib.sha256(key.encode()).hexdigest()[:32],
        kind=feed.kind,
        title=name[:MAX_TITLE],
        indicators=tuple(indicators),
        text=words[:MAX_TITLE],
        link=fields.web_link(fields.text(post.get("post_url"))),
        published=utc_timestamp(post.get("published")) or utc_timestamp(discovered),
        facts=Facts.of(facts),
    )


@functools.lru_cache(maxsize=1024)
def country_code(text: str) -> str:
    """The ISO 3166-1 alpha-2 code of a country as a source writes it ("FR", "FRA", "France"); "" for none or
    for words that name no country (the matcher then has no country to compare)."""
    if not text or len(text) > 64:
        return ""
    try:
        if len(text) == 2:
            found = pycountry.countries.get(alpha_2=text.upper())
        elif len(text) == 3:
            found = pycountry.countries.get(alpha_3=text.upper())
        else:
            found = pycountry.countries.lookup(text)
    except LookupError:
        return ""
    return str(found.alpha_2) if found is not None else ""


def website(value: Any) -> Indicator | None:
    """The host of a victim's website as written by leak sites: ``www.x.com``, ``https://x.com/en/``, even
    ``http://https://x.com``."""
    if not isinstance(value, str) or len(value) > MAX_LINK:
        return None
    text = refang(value.strip())
    while (scheme := _SCHEME.match(text)) is not None:
        text = text[scheme.end() :]
    host = re.split(r"[/?#\s]", text, maxsplit=1)[0].rpartition("@")[2]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return indicator_for(host, ColumnRole.DOMAIN) if host else None


def _title_host(name: str, truncated: bool) -> Indicator | None:
    """The victim's domain when the title starts with one (``example.com``, ``www.example.co.uk``) and what
    follows it is not another word (``St.Mary Hospital`` is no domain)."""
    found = _LEADING_HOST.match(name)
    if found is None:
        return None
    candidate, rest = found.group(0).strip(".-"), name[found.end() :].lstrip()
    if "." not in candidate or (truncated and not rest):  # "hancock.co..." may be cut inside the domain
        return None
    if rest and rest[0].isalnum():
        return None
    if candidate.rpartition(".")[2].lower() in FILE_EXTENSIONS:
        return None
    return indicator_for(candidate, ColumnRole.DOMAIN)
