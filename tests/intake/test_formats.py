"""The format table: every format config accepts has a parser."""

from __future__ import annotations

from alertd.domain.feeds import FeedFormat
from alertd.intake.formats import FORMATS


def test_every_format_has_a_parser() -> None:
    assert list(FORMATS) == list(FeedFormat)  # in the order config lists them when a feed names another
    assert all(isinstance(fmt, FeedFormat) for fmt in FORMATS)
