"""Feed formats: each turns the bytes of one fetch into observations (pure: no I/O, no clock).

``FORMATS`` maps each :class:`~alertd.domain.feeds.FeedFormat` to its default kind and its parser. A parser is given
the feed's :class:`~alertd.domain.feeds.FeedSpec` (id, format, kind, columns), never how the feed is fetched.

A knowledge-only format (EPSS) tells facts about CVEs, not whom they concern: its entries are stored as knowledge
(:class:`~alertd.domain.knowledge.Statement`) and never matched against the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from alertd.domain.feeds import DEFAULT_MAX_ENTRIES, FeedFormat, FeedSpec
from alertd.domain.values import FeedKind, Observation
from alertd.intake.formats import csaf, csvfeed, epss, kev, leaks, misp, nvd, press, rss, stix, taxii
from alertd.intake.formats.entries import Entries, cut_to

Parser = Callable[[FeedSpec, bytes], list[Observation]]
# For formats published as an index of documents (a MISP feed's manifest.json, a CSAF provider's index.txt or
# ROLIE feed): given the body fetched from the feed's url and that url, the absolute URLs of the documents to
# fetch and parse instead; None when the body is itself a document.
Expander = Callable[[FeedSpec, bytes, str], "list[str] | None"]


@dataclass(frozen=True, slots=True)
class Format:
    """One format: the kind its observations have unless the feed says otherwise, its parser, its expander,
    whether its entries are knowledge only (stored for what they say of CVEs, never matched), and the feed's
    ``max_entries`` unless it says otherwise."""

    kind: FeedKind
    parse: Parser
    expand: Expander | None = None
    knowledge_only: bool = False
    max_entries: int = DEFAULT_MAX_ENTRIES


FORMATS: dict[FeedFormat, Format] = {
    FeedFormat.RSS: Format(FeedKind.ADVISORY, rss.parse),
    FeedFormat.CISA_KEV: Format(FeedKind.VULNERABILITY, kev.parse),
    FeedFormat.CSV: Format(FeedKind.COMPROMISE, csvfeed.parse),
    FeedFormat.NVD_JSON: Format(FeedKind.VULNERABILITY, nvd.parse),
    FeedFormat.CSAF: Format(FeedKind.VULNERABILITY, csaf.parse, csaf.expand),
    FeedFormat.MISP: Format(FeedKind.COMPROMISE, misp.parse, misp.expand),
    FeedFormat.STIX: Format(FeedKind.COMPROMISE, stix.parse),
    FeedFormat.LEAK_VICTIMS: Format(FeedKind.LEAK, leaks.parse),
    # One entry per CVE (about 300,000 today, ~770 bytes each measured): a whole file is read.
    FeedFormat.EPSS_CSV: Format(FeedKind.VULNERABILITY, epss.parse, knowledge_only=True, max_entries=1_000_000),
    # A press report is no criminal's claim to hold stolen data, as a leak-site post is: told as an advisory.
    FeedFormat.PRESS_REPORTS: Format(FeedKind.ADVISORY, press.parse),
    # Its pages are fetched by alertd.intake.taxii (the fetcher hands the collection to it), then read as STIX.
    FeedFormat.TAXII: Format(FeedKind.COMPROMISE, taxii.parse),
}


def parse_feed(feed: FeedSpec, body: bytes) -> Entries:
    """Parse one fetched body with the feed's format, at most ``feed.max_entries`` entries (``cut`` when it had
    more); raises :class:`~alertd.domain.errors.ParseError`.

    The formats whose documents can be long lists stop reading at the cap themselves (leak-victims,
    press-reports, csv, and the KEV, NVD and MISP lists); the others' results are bounded here.
    """
    return cut_to(feed, FORMATS[feed.format].parse(feed, body))
