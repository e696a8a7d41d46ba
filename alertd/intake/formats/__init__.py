"""Feed formats: each turns the bytes of one fetch into observations (pure: no I/O, no clock).

``FORMATS`` maps the ``format`` names of ``feeds.yaml`` to their default kind and their parser. A parser is given
the feed's :class:`~alertd.domain.feeds.FeedSpec` (id, format, kind, columns), never how the feed is fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alertd.domain.feeds import FeedSpec
from alertd.domain.values import FeedKind, Observation
from alertd.intake.formats import csaf, csvfeed, kev, leaks, misp, nvd, rss, stix

Parser = Callable[[FeedSpec, bytes], list[Observation]]
# For formats published as an index of documents (a MISP feed's manifest.json, a CSAF provider's index.txt or
# ROLIE feed): given the body fetched from the feed's url and that url, the absolute URLs of the documents to
# fetch and parse instead; None when the body is itself a document.
Expander = Callable[[FeedSpec, bytes, str], "list[str] | None"]


@dataclass(frozen=True, slots=True)
class Format:
    """One format: the kind its observations have unless the feed says otherwise, its parser, its expander."""

    kind: FeedKind
    parse: Parser
    expand: Expander | None = None


FORMATS: dict[str, Format] = {
    "rss": Format(FeedKind.ADVISORY, rss.parse),
    "cisa-kev": Format(FeedKind.VULNERABILITY, kev.parse),
    "csv": Format(FeedKind.COMPROMISE, csvfeed.parse),
    "nvd-json": Format(FeedKind.VULNERABILITY, nvd.parse),
    "csaf": Format(FeedKind.VULNERABILITY, csaf.parse, csaf.expand),
    "misp": Format(FeedKind.COMPROMISE, misp.parse, misp.expand),
    "stix": Format(FeedKind.COMPROMISE, stix.parse),
    "leak-victims": Format(FeedKind.LEAK, leaks.parse),
}


def parse_feed(feed: FeedSpec, body: bytes) -> list[Observation]:
    """Parse one fetched body with the feed's format; raises :class:`~alertd.domain.errors.ParseError`."""
    return FORMATS[feed.format].parse(feed, body)
