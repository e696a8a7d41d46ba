"""What every JSON feed format does alike: read the body (UTF-8, a BOM tolerated, one clear error), read its
timestamps, keep each entry once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedSpec
from alertd.domain.values import Observation


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


def unique_entries(observations: Iterable[Observation | None]) -> list[Observation]:
    """The observations in order, without the None of unreadable items and without a repeated entry."""
    seen: set[str] = set()
    result: list[Observation] = []
    for observation in observations:
        if observation is not None and observation.entry not in seen:
            seen.add(observation.entry)
            result.append(observation)
    return result
