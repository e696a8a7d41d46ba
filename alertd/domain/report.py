"""The figures of a report over a period (``alertd report``, README "Reports"): what the CERT tells its ministry.

Codes and numbers only: the store counts (:mod:`alertd.store.reporting`), render puts them into words and charts
(:mod:`alertd.render.report`). A *warning* is one alert told to one establishment in an email the server
accepted (its outbox row ``sent``), dated by when it was sent; the backlog told in an inventory email is no
warning (it tells nothing new), nor is a re-notification (an alert with ``follow_up``: a finding told again after
its ``renotify`` interval), counted apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from alertd.domain.codes import MatchReason
from alertd.domain.values import FeedKind, Severity

UNKNOWN = "unknown"  # the region or category of an establishment the registry does not hold (any more), or left blank
TOP = 10  # how many CVEs and malware families the report ranks
K = TypeVar("K", bound=str)


class ReportKind(enum.StrEnum):
    """What a warning is about, as the report counts them: its feed's kind, and a known-exploited vulnerability
    apart from the other vulnerabilities (found by KEV, or a CVE the knowledge says is exploited, whatever feed
    found it)."""

    COMPROMISE = "compromise"  # an address, network or domain of its reported compromised (C2, botnet, phishing)
    EXPOSURE = "exposure"  # a service of its found exposed
    EXPLOITED = "exploited-vulnerability"  # a product of its inventory has a vulnerability exploited in the wild
    VULNERABILITY = "vulnerability"  # a product of its inventory has a published vulnerability
    LEAK = "leak"  # named as a victim on a leak site
    ADVISORY = "advisory"  # an advisory names it or a product of its inventory


def report_kind(kind: FeedKind, reason: MatchReason) -> ReportKind:
    """The report's kind of a warning, from its finding's feed kind and match reason (a vulnerability warning
    citing a CVE is judged by the CVE instead: :mod:`alertd.store.reporting`)."""
    if reason is MatchReason.KEV_PRODUCT:
        return ReportKind.EXPLOITED
    return ReportKind(kind.value)


@dataclass(frozen=True, slots=True)
class Period:
    """The days ``[start, end)``, in the CERT's time zone."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def whole_months(self) -> bool:
        return self.start.day == 1 and self.end.day == 1

    def previous(self) -> Period:
        """The same span just before: as many whole months when the period is whole months (the previous year of
        a calendar year, the previous quarter of a quarter), else as many days."""
        if self.whole_months:
            months = _month_index(self.end) - _month_index(self.start)
            return Period(_month_start(_month_index(self.start) - months), self.start)
        return Period(self.start - (self.end - self.start), self.start)

    def months(self) -> tuple[date, ...]:
        """The first day of each month the period touches, in order."""
        first, last = _month_index(self.start), _month_index(self.end) - (1 if self.end.day == 1 else 0)
        return tuple(_month_start(i) for i in range(first, last + 1))


def months_compared(current: Period, previous: Period) -> bool:
    """Whether the months of two periods pair one to one, by position (January 2026 with January 2025): when both
    are as many whole months. A span of days touches a different number of months than the span before it (the
    31st of one month to the 1st of the month after next against the 30 days before): its months are not
    compared."""
    return current.whole_months and previous.whole_months and len(current.months()) == len(previous.months())


def month_labels_need_the_year(period: Period) -> bool:
    """Whether a month's short name is ambiguous in the period: it spans more than 12 months, or two years."""
    months = period.months()
    return len(months) > 12 or months[0].year != months[-1].year


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Deliveries:
    """The emails made for establishments in the period, by what became of them (each email counted once, by its
    Message-ID: the copy a partial send leaves to the recipients refused is no email of its own; a warning email,
    a digest, a reminder alike; the operators' notices are none)."""

    sent_first_time: int
    sent_after_retries: int
    failed_for_good: int
    waiting: int  # still pending (or being handed over) when the report was made


@dataclass(frozen=True, slots=True)
class Acknowledgements:
    """The warning emails sent in the period, how many an establishment answered through its link, and how fast."""

    emails: int  # warning emails sent (with a reference and a new warning: not inventories, not re-notifications)
    answered: int  # of those, answered at least once
    median_seconds: float | None  # from sending to the first answer, over the answered ones; None when none
    false_positives: int  # emails answered "not us" in the period (each email once, however often)
    links: bool = True  # the emails carried an acknowledgement link (``web:`` is configured)

    @property
    def rate(self) -> float | None:
        """The share of warning emails answered (0 to 1); None when none was sent, or they carried no link."""
        return self.answered / self.emails if self.emails and self.links else None


@dataclass(frozen=True, slots=True)
class Proposals:
    """The inhibitions "not us" responses proposed in the period, by what the operator decided."""

    proposed: int
    accepted: int
    rejected: int
    open: int


@dataclass(frozen=True, slots=True)
class Figures:
    """Every figure of one period. The breakdowns hold only what is not zero, largest first (the months hold
    every month of the period, in order)."""

    period: Period
    warnings: int
    renotifications: int  # findings told again after their renotify interval (no warning: counted in no breakdown)
    establishments: int  # establishments warned at least once
    by_month: tuple[tuple[date, int], ...]
    by_severity: Mapping[Severity, int]
    by_kind: Mapping[ReportKind, int]
    by_feed: Mapping[str, int]
    by_region: Mapping[str, int]
    by_category: Mapping[str, int]
    top_cves: tuple[tuple[str, int], ...]  # the exploited CVEs warned of most, by establishments (each one once)
    top_malware: tuple[tuple[str, int], ...]  # the malware families of the compromises warned of most
    deliveries: Deliveries
    acks: Acknowledgements
    proposals: Proposals


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of a period, and of the previous one when asked for."""

    current: Figures
    previous: Figures | None


@dataclass(frozen=True, slots=True)
class Change:
    """A figure against the previous period's: the difference, and the percentage (None when it was 0)."""

    delta: int
    percent: float | None


def change(now: int, before: int) -> Change:
    """``now`` against ``before``."""
    return Change(now - before, (now - before) * 100 / before if before else None)


def ranked(counts: Mapping[K, int]) -> dict[K, int]:
    """Counts largest first, then by key; zeros dropped."""
    return dict(sorted(((k, n) for k, n in counts.items() if n), key=lambda kn: (-kn[1], kn[0])))


def regroup(per_establishment: Mapping[str, int], group_of: Mapping[str, str]) -> dict[str, int]:
    """Counts per establishment summed by each one's group (its region, its category); an establishment
    ``group_of`` does not know, or gives no group, counts as :data:`UNKNOWN`."""
    totals: dict[str, int] = {}
    for establishment, n in per_establishment.items():
        group = group_of.get(establishment) or UNKNOWN
        totals[group] = totals.get(group, 0) + n
    return ranked(totals)
