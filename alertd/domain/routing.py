"""Who gets what, and when: subscriptions with their selectors, and inhibitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from alertd.domain.establishments import Establishment
from alertd.domain.values import IndicatorType, Severity


@dataclass(frozen=True, slots=True)
class Selector:
    """Which establishments a subscription covers: ``all``, or every given key must hold."""

    everyone: bool = False
    ids: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    def selects(self, est: Establishment) -> bool:
        if self.everyone:
            return True
        return (
            (not self.ids or est.id in self.ids)
            and (not self.kinds or est.kind in self.kinds)
            and (not self.regions or est.region in self.regions)
            and (not self.tags or not self.tags.isdisjoint(est.tags))
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who gets what, and when (``subscriptions.yaml``); ``digest`` is a cron expression or None."""

    name: str
    selector: Selector
    min_severity: Severity
    digest: str | None = None
    feeds: frozenset[str] | None = None
    quiet_hours: tuple[time, time] | None = None  # local [start, end): nothing but imminent goes out then
    business_days: frozenset[int] | None = None  # ISO weekdays (1 = Monday) a digest may go out on
    holidays: frozenset[date] = frozenset()  # days a digest never goes out on

    @property
    def immediate(self) -> bool:
        return self.digest is None


@dataclass(frozen=True, slots=True)
class Inhibition:
    """What must not be alerted, until when (``inhibitions.yaml``). Exactly one of the matchers is set."""

    reason: str
    expires: date | None
    establishment: str | None = None
    indicator: str | None = None  # a value, a CIDR, a domain (covers its subdomains) or a CVE
    feed: str | None = None
    type: IndicatorType | None = None
    where: str = ""  # file:line:column, shown with what it held back
