"""The domain's values, shared by every stage: indicators, observations, findings, alerts.

Everything here is immutable and free of I/O so that the pure stages (match, policy, render) can pass these
values around and the tests can build them by hand.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.codes import SOFTWARE_REASONS, MatchReason, SeverityRule
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
        return _LABELS[self]  # a dict, not ``self.name``: an enum's name is a slow descriptor in Python 3.11

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity as written in YAML (``imminent``, ``critical``, ``high``, ``info``)."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; allowed: {', '.join(SEVERITY_NAMES)}") from None


_LABELS = {s: s.name.lower() for s in Severity}
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

    @property
    def text(self) -> str:
        """The range in the constraint notation of ``vers`` (without scheme): ``=7.2.5``, ``>=13.1|<13.1-49.13``;
        ``*`` for every version. Stored with a finding's version fact; render puts it in words."""
        parts = [
            f"{op}{version}"
            for op, version in (
                ("=", self.exact),
                (">=", self.start_including),
                (">", self.start_excluding),
                ("<=", self.end_including),
                ("<", self.end_excluding),
            )
            if version is not None
        ]
        return "|".join(parts) or "*"

    @classmethod
    def from_text(cls, text: str) -> VersionRange:
        """The range back from :attr:`text`."""
        if text == "*":
            return cls()
        fields: dict[str, str] = {}
        for part in text.split("|"):
            for op, name in _RANGE_OPERATORS:
                if part.startswith(op):
                    fields[name] = part[len(op) :]
                    break
            else:
                raise ValueError(f"not a version range constraint: {part!r}")
        return cls(**fields)


_RANGE_OPERATORS = (
    (">=", "start_including"),
    ("<=", "end_including"),
    ("=", "exact"),
    (">", "start_excluding"),
    ("<", "end_excluding"),
)


class ProductStatus(enum.StrEnum):
    """What a source says of a product's ``versions`` (NVD's ``vulnerable``, CSAF's ``product_status``)."""

    AFFECTED = "affected"  # the versions listed are affected; none listed: every version (``vers:all/*``)
    FIXED = "fixed"  # the versions listed carry the fix: they, and later ones of the same line, are not affected
    NOT_AFFECTED = "not-affected"  # the versions listed are not affected
    NAMED = "named"  # the source names the product and says nothing of its versions (KEV)


@dataclass(frozen=True, slots=True)
class Product:
    """A vendor and product as a source names them (KEV ``vendorProject``/``product``, a CPE, a CSAF branch), and
    what the source says of its versions.

    ``status`` tells how to read ``versions`` (:class:`ProductStatus`). ``edition`` and ``target_sw`` are a CPE's
    ``sw_edition`` and ``target_sw`` when the source restricts the product to one (NVD's ``aem_cloud_service``);
    None means any. ``running_on`` lists the platforms NVD says the product is vulnerable only when running on
    (a configuration's non-vulnerable CPEs); empty means on any platform.
    """

    vendor: str
    product: str
    versions: tuple[VersionRange, ...] = ()
    status: ProductStatus = ProductStatus.AFFECTED
    edition: str | None = None
    target_sw: str | None = None
    running_on: tuple[Product, ...] = ()


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
    tlp: Tlp | None = None  # the source's own marking of the entry (MISP tag, STIX marking, CSAF); None: it gives none


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
    tlp: Tlp | None = None  # its observation's marking by the source; no part of the key (a re-marking is the same)

    @property
    def key(self) -> str:
        """The dedup key: the same finding from any later poll has the same key (contract §4).

        A software finding is one per declared asset (two assets hit by one CVE are two findings); the others
        are one per indicator, whatever asset they hit.
        """
        return finding_key(
            self.establishment,
            self.indicator,
            self.reason,
            self.feed,
            self.asset if self.reason in SOFTWARE_REASONS else None,
        )


def finding_key(establishment: str, indicator: Indicator, reason: str, feed: str, asset: str | None) -> str:
    """The key of :attr:`Finding.key` from its parts (the store recomputes keys an earlier version wrote)."""
    parts = [establishment, indicator.type, indicator.value, reason, feed]
    if asset is not None:
        parts.append(asset)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


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
    tlp: Tlp = DEFAULT_TLP  # the strictest of the feed's marking and the source's; the email carries the strictest
    follow_up: bool = False  # a re-notification of a finding already told
    inventory: bool = False  # backlog found on first contact: told in the establishment's inventory email, not as news


@dataclass(frozen=True, slots=True)
class FindingState:
    """What the store remembers of a finding between polls."""

    first_seen: datetime
    last_alerted: datetime | None = None
    queued: bool = False  # an alert for it waits for a digest
    unverified: bool = False  # it was told with its version not checked (a confirmation is then due)
    inventoried: bool = False  # its last email was an inventory: backlog, re-told only when its source says news
