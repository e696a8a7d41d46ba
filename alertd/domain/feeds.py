"""Feeds as values: what the operator declared of each, and what a poll keeps for the next one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from alertd.domain.tlp import DEFAULT_TLP, Tlp
from alertd.domain.values import FeedKind, Severity

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What a format's parser reads of a feed: its id (named in observations and errors), format, kind and, for
    a ``csv`` feed, which column holds what."""

    id: str
    format: str
    kind: FeedKind
    columns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed to poll (``feeds.yaml``): its :class:`FeedSpec`, and how to fetch and watch it."""

    id: str
    url: str
    format: str
    interval: timedelta
    kind: FeedKind
    severity: Severity | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    tlp: Tlp = DEFAULT_TLP
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0
    stale_after: timedelta | None = None  # no successful poll for this long: tell the operator
    failures_alert: int = 3  # this many failed polls in a row: tell the operator

    @property
    def spec(self) -> FeedSpec:
        """What the feed's parser reads of it; a fetch's url, size cap and timeout are none of its business."""
        return FeedSpec(self.id, self.format, self.kind, self.columns)

    @property
    def stale_limit(self) -> timedelta:
        """How long the feed may go without a successful poll (default: four intervals, at least one hour)."""
        return self.stale_after or max(self.interval * 4, timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Validators:
    """What the store keeps per feed to make the next poll conditional (``ETag`` and ``Last-Modified``)."""

    etag: str | None = None
    last_modified: str | None = None
