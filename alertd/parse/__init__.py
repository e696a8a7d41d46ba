"""Feed formats: each turns the bytes of one fetch into observations (pure: no I/O, no clock).

``FORMATS`` maps the ``format`` names of ``feeds.yaml`` to their default kind and their parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model import FeedKind, Observation
from . import csvfeed, kev, rss

if TYPE_CHECKING:
    from ..config import FeedConfig

Parser = Callable[["FeedConfig", bytes], list[Observation]]


@dataclass(frozen=True, slots=True)
class Format:
    kind: FeedKind
    parse: Parser


FORMATS: dict[str, Format] = {
    "rss": Format(FeedKind.ADVISORY, rss.parse),
    "cisa-kev": Format(FeedKind.VULNERABILITY, kev.parse),
    "csv": Format(FeedKind.COMPROMISE, csvfeed.parse),
}


def parse_feed(feed: FeedConfig, body: bytes) -> list[Observation]:
    """Parse one fetched body with the feed's format; raises :class:`~alertd.errors.ParseError`."""
    return FORMATS[feed.format].parse(feed, body)
