"""The domain's values, shared by every stage: indicators, observations, findings, alerts.

Everything here is immutable and free of I/O so that the pure stages (match, policy, render) can pass these
values around and the tests can build them by hand.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.codes import MatchReason, SeverityRule
from alertd.domain.facts import NO_FACTS, Facts
from alertd.domain.tlp import DEFAULT_TLP, Tlp


class Severity(enum.IntEnum):
    """How urgent a warning is; higher is more urgent (contract §3)."""

    INFO = 1
    HIGH = 2
    CRITICAL = 3
    IMMINENT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity as written in YAML (``imminent``, ``critical``, ``high``, ``info``)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; allowed: {', '.join(SEVERITY_NAMES)}") from None


SEVERITY_NAMES = tuple(s.label for s in sorted(Severity, reverse=True))


class FeedKind(enum.StrEnum):
    """What a feed reports (contract §3)."""

    COMPROMISE = "compromise"
    EXPOSURE = "exposure"
    VULNERABILITY = "vulnerability"
    ADVISORY = "advisory"
    LEAK = "leak"


class IndicatorType(enum.StrEnum):
    """The kinds of value a feed can report and the matcher can look up."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    ASN = "asn"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    CVE = "cve"
    HASH = "hash"
    PRODUCT = "product"  # a vendor/product pair named by a vulnerability catalogue or advisory
    NAME = "name"  # an organisation named in a leak-site post or an advisory


@dataclass(frozen=True, slots=True, order=True)
class Indicator:
    """One value reported by a feed, normalised (refanged, lower-cased where case carries no meaning)."""

    type: IndicatorType
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


@dataclass(frozen=True, slots=True)
class VersionRange:
    """Which versions of a product a vulnerability affects: one exact version, or bounds (NVD, CSAF ``vers``).

    All fields None means every version. Versions stay strings here; matching compares them.
    """

    exact: str | None = None
    start_including: str | None = None
    start_excluding: str | None = None
    end_including: str | None = None
    end_excluding: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """A vendor and product as a catalogue names them (KEV ``vendorProject``/``product``, a CPE, a CSAF branch).

    ``versions`` empty means the source names no version (KEV): every version is taken as affected.
    """

    vendor: str
    product: str
    versions: tuple[VersionRange, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """One entry of one feed: what it reports, in which words, and where to read more.

    ``entry`` is stable across polls (the feed's own id, or a hash of the content), so a second poll of an
    unchanged feed yields the same observations. ``text`` is free text scanned for establishment names and
    product names (advisories, leak-site posts); ``indicators`` are the values found in the entry;
    ``products`` the vendor/product pairs it concerns.
    """

    feed: str
    entry: str
    kind: FeedKind
    title: str
    indicators: tuple[Indicator, ...] = ()
    products: tuple[Product, ...] = ()
    text: str = ""
    link: str | None = None
    published: datetime | None = None
    facts: Facts = NO_FACTS  # what the feed tells beyond the indicators: malware, port, CVSS score...
    exploited: bool = False  # the source says the vulnerability is exploited in the wild (KEV)


@dataclass(frozen=True, slots=True)
class Finding:
    """An observation that concerns one establishment, with why: which of its assets it hit and how.

    ``facts`` are its observation's; a software finding's add the version it concerns (``facts.version``): the
    inventory's version, or :attr:`Evidence.VERSION_UNKNOWN <alertd.domain.codes.Evidence>` when it declares none.
    """

    establishment: str
    indicator: Indicator
    asset: str  # the registry item hit: a network, a domain, a software item, a name
    reason: MatchReason
    feed: str
    kind: FeedKind
    entry: str
    title: str
    link: str | None = None
    published: datetime | None = None
    facts: Facts = NO_FACTS

    @property
    def key(self) -> str:
        """The dedup key: the same finding from any later poll has the same key (contract §4)."""
        raw = "\x1f".join((self.establishment, self.indicator.type, self.indicator.value, self.reason, self.feed))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Alert:
    """A finding that policy decided to tell its establishment about, with a severity and a route."""

    finding: Finding
    severity: Severity
    rule: SeverityRule  # which rule set the severity, shown in the email
    subscription: str
    immediate: bool
    first_seen: datetime
    last_seen: datetime
    tlp: Tlp = DEFAULT_TLP  # the feed's Traffic Light Protocol marking; the email carries the strictest
    follow_up: bool = False  # a re-notification of a finding already told


@dataclass(frozen=True, slots=True)
class FindingState:
    """What the store remembers of a finding between polls."""

    first_seen: datetime
    last_alerted: datetime | None = None
    queued: bool = False  # an alert for it waits for a digest
