"""Feeds as values: what the operator declared of each, and what a poll keeps for the next one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import NewType

from alertd.domain.tlp import DEFAULT_TLP, Tlp
from alertd.domain.values import FeedKind, Severity

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: The whole poll of a feed, the documents an index lists included (``deadline``); ``timeout`` bounds each request.
DEFAULT_DEADLINE = timedelta(minutes=10)
# How much feed text a parser reads, cut before any expression sees it (issue #13): a feed is attacker-writable, and
# a megabyte title costs no more than these. Counted in characters of the decoded text (a character is at least one
# byte, so the bound in bytes read is never lower); ``max_field_bytes`` and ``max_entry_bytes`` in feeds.yaml.
DEFAULT_MAX_FIELD_BYTES = 64 * 1024  # of one field: a title, a description, a CSV cell, an indicator's value
DEFAULT_MAX_ENTRY_BYTES = 4 * DEFAULT_MAX_FIELD_BYTES  # of one entry's joined text, read for indicators and kept
# Entries a parser builds from one fetched document (issue #13, "findings per poll bounded"): it stops reading there
# and the poll is partial (nothing delisted). A leak post costs about 1.2 KB as an observation (measured on
# ransomware.live's recentvictims), so 200,000 hold about 250 MB, several times any real feed's list; a format may
# declare its own (EPSS lists one small entry per CVE: about 300,000). ``max_entries`` in feeds.yaml.
DEFAULT_MAX_ENTRIES = 200_000
#: Entries older than this on first contact are backlog, told in the inventory email rather than as news.
DEFAULT_BACKLOG_AFTER = timedelta(days=30)


class FeedFormat(enum.StrEnum):
    """How a feed writes its entries: the ``format`` of ``feeds.yaml``, each read by one parser of
    ``alertd/intake/formats``."""

    RSS = "rss"  # RSS or Atom advisories and bulletins
    CISA_KEV = "cisa-kev"  # CISA's Known Exploited Vulnerabilities catalog
    CSV = "csv"  # a delimited blocklist, read by the feed's ``columns``
    NVD_JSON = "nvd-json"  # NVD's CVE JSON
    CSAF = "csaf"  # CSAF advisories, or a provider's index of them
    MISP = "misp"  # a MISP feed's events, or its manifest
    STIX = "stix"  # a STIX 2.x bundle
    LEAK_VICTIMS = "leak-victims"  # leak-site posts as ransomware trackers list them
    EPSS_CSV = "epss-csv"  # FIRST's daily EPSS scores: knowledge about CVEs, never matched on its own
    PRESS_REPORTS = "press-reports"  # cyberattacks reported in the press, as ransomware trackers list them
    TAXII = "taxii"  # a TAXII 2.1 collection's STIX objects, read page by page and then incrementally


#: A ``columns`` key that is no :class:`ColumnRole`: the name a column's cells are kept under in the facts.
FactColumn = NewType("FactColumn", str)


class ColumnRole(enum.StrEnum):
    """What a ``csv`` feed's column holds, for the roles its parser reads itself (a key of ``columns``).

    The operator may name other columns too (``port``, ``malware``, ``status``...): their cells are kept as the
    observation's facts under that name (:class:`FactColumn`), in a field of their own for the facts alertd reads.
    """

    IP = "ip"  # an address, ``address:port`` allowed
    CIDR = "cidr"  # a network
    DOMAIN = "domain"  # a host name
    HOST = "host"  # the same, as some lists call it
    URL = "url"
    EMAIL = "email"
    ASN = "asn"  # an autonomous system, ``AS`` prefix allowed
    HASH = "hash"  # an MD5, SHA-1 or SHA-256 digest
    FIRST_SEEN = "first_seen"  # the observation's date (kept as a fact when it does not read as one)
    PREFIX = "prefix"  # the prefix length completing a ``cidr`` column of bare network addresses (DShield)
    THREAT = "threat"  # words for the observation's title, after the malware (kept as a fact too)

    @classmethod
    def of(cls, key: str) -> ColumnRole | FactColumn:
        """The role a ``columns`` key names, or, for any other key, the name its column's facts are kept under."""
        try:
            return cls(key)
        except ValueError:
            return FactColumn(key)


#: A ``csv`` feed's ``columns``: each role or fact name to a column name, or to a position (``"0"``, ``"1"``).
Columns = Mapping[ColumnRole | FactColumn, str]
#: The roles that hold an indicator, in the order a row's indicators are listed.
INDICATOR_ROLES = (
    ColumnRole.IP,
    ColumnRole.CIDR,
    ColumnRole.DOMAIN,
    ColumnRole.HOST,
    ColumnRole.URL,
    ColumnRole.EMAIL,
    ColumnRole.ASN,
    ColumnRole.HASH,
)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What a format's parser reads of a feed: its id (named in observations and errors), format, kind, for a
    ``csv`` feed which column holds what, how much text of one field and of one entry it may read, and how many
    entries it builds from one document."""

    id: str
    format: FeedFormat
    kind: FeedKind
    columns: Columns = field(default_factory=dict)
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES
    max_entries: int = DEFAULT_MAX_ENTRIES


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One feed to poll (``feeds.yaml``): its :class:`FeedSpec`, and how to fetch and watch it."""

    id: str
    url: str
    format: FeedFormat
    interval: timedelta
    kind: FeedKind
    severity: Severity | None = None
    columns: Columns = field(default_factory=dict)
    tlp: Tlp = DEFAULT_TLP
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0
    stale_after: timedelta | None = None  # no successful poll for this long: tell the operator
    failures_alert: int = 3  # this many failed polls in a row: tell the operator
    # On first contact, an entry whose own date is older than this is backlog (contract §4); None: every entry is
    # news (``backlog_after: never``).
    backlog_after: timedelta | None = DEFAULT_BACKLOG_AFTER
    # Hosts the documents an index lists may be fetched from besides the index's own origin (contract §2,
    # "Reach"): ``host`` (the scheme's default port), ``host:port``, ``*.domain``.
    allow_hosts: tuple[str, ...] = ()
    deadline: timedelta = DEFAULT_DEADLINE  # the whole poll, index documents included
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES  # text of one field a parser reads (see FeedSpec)
    max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES  # text of one entry a parser reads and keeps
    max_entries: int = DEFAULT_MAX_ENTRIES  # entries a parser builds from one document (see FeedSpec)
    # HTTP basic authentication (``taxii`` feeds): the password is read from the file when the feed is fetched, so
    # it is never held in the configuration (nor shown by its repr).
    username: str | None = None
    password_file: Path | None = None

    @property
    def spec(self) -> FeedSpec:
        """What the feed's parser reads of it; a fetch's url, size cap and timeout are none of its business."""
        return FeedSpec(
            self.id,
            self.format,
            self.kind,
            self.columns,
            self.max_field_bytes,
            self.max_entry_bytes,
            self.max_entries,
        )

    @property
    def stale_limit(self) -> timedelta:
        """How long the feed may go without a successful poll (default: four intervals, at least one hour)."""
        return self.stale_after or max(self.interval * 4, timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class Validators:
    """What the store keeps per feed to make the next poll conditional (``ETag`` and ``Last-Modified``).

    For a ``taxii`` feed, ``last_modified`` holds when the server added the last object read (its
    ``X-TAXII-Date-Added-Last``): the next poll asks only for the objects added after it (``added_after``).
    """

    etag: str | None = None
    last_modified: str | None = None
