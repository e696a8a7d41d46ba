"""False-positive control (contract §3): what is set aside before matching, and under which list's name.

Three sources, each checked by the match index before it looks an indicator up:

- private and reserved ranges (:data:`SPECIAL_NETWORKS`), always suppressed as ``private-or-reserved``, even
  inside a network an establishment declared;
- :class:`BenignLists`: shared infrastructure and popular sites from the MISP warninglists (shipped on PyPI as
  ``pymispwarninglists``): cloud and CDN ranges, public DNS resolvers, sinkholes, the most popular domains.
  They are suppressed as ``warninglist:<list>``, except an address an establishment declared as its own host
  (a small prefix, :data:`HOST_PREFIX`) inside them, and a domain an establishment declared below a popular one;
- :class:`Allowlist`: the operator's own entries, each with a reason, suppressed as ``allowlist: <reason>``.

Everything here is an immutable value; :func:`default_benign` builds the warninglist selection once per process
(about 0.1 s) and keeps it.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

from alertd.domain.grammar import ASCII_DOMAIN as _DOMAIN

PRIVATE_LABEL: Final = "private-or-reserved"
HOST_PREFIX: Final = {4: 28, 6: 124}  # a declared prefix this small (or smaller) is the establishment's own host

# Ranges no establishment can own on the Internet (IANA special-purpose registries, RFC 6890 and successors).
# In IPv6 everything outside 2000::/3 is not global unicast.
SPECIAL_NETWORKS: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/3",
    "4000::/2",
    "8000::/1",
    "2001::/23",
    "2001:db8::/32",
    "3fff::/20",
)

# The warninglists used, by their folder name in the MISP warninglists repository.
CLOUD_AND_CDN_LISTS: Final = (
    "amazon-aws",
    "google-gcp",
    "microsoft-azure",
    "microsoft-azure-china",
    "microsoft-azure-germany",
    "microsoft-azure-us-gov",
    "microsoft-office365-ip",
    "cloudflare",
    "akamai",
    "fastly",
    "stackpath",
    "ovh-cluster",
    "github",
    "zscaler",
)
PUBLIC_DNS_LISTS: Final = ("public-dns-v4", "public-dns-v6")
SINKHOLE_LISTS: Final = ("sinkholes", "umbrella-blockpage-v4", "umbrella-blockpage-v6")
POPULAR_DOMAIN_LISTS: Final = ("tranco10k", "google", "microsoft", "microsoft-office365")
NETWORK_LISTS: Final = CLOUD_AND_CDN_LISTS + PUBLIC_DNS_LISTS + SINKHOLE_LISTS

Block = tuple[int, int, int, str]  # (IP version, first address, last address, label)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_ASN = re.compile(r"^as\s*(\d{1,10})$")


def network_block(text: str, label: str, *, strict: bool = True) -> Block:
    """A CIDR or a single address as ``(version, first, last, label)``; ValueError when it is neither."""
    net = ipaddress.ip_network(text.strip(), strict=strict)
    first = int(net.network_address)
    return net.version, first, first | int(net.hostmask), label


def _fast_block(text: str, label: str) -> Block | None:
    """A strict CIDR or address as a block, without ``ipaddress`` (75,000 list entries load in ~0.1 s)."""
    address, slash, length_text = text.strip().partition("/")
    version = 6 if ":" in address else 4
    bits = 128 if version == 6 else 32
    try:
        first = int.from_bytes(socket.inet_pton(socket.AF_INET6 if version == 6 else socket.AF_INET, address), "big")
        length = int(length_text) if slash else bits
    except (OSError, ValueError):
        return None
    if not 0 <= length <= bits:
        return None
    host = (1 << (bits - length)) - 1
    if first & host:
        return None  # host bits set: as pymispwarninglists does, such an entry is skipped
    return version, first, first | host, label


SPECIAL_BLOCKS: Final = tuple(network_block(text, PRIVATE_LABEL) for text in SPECIAL_NETWORKS)


def special_label(address: str) -> str | None:
    """``private-or-reserved`` when the address (or network) lies in a special-purpose range, else None."""
    version, first, last, _ = network_block(address, "", strict=False)
    return next((b[3] for b in SPECIAL_BLOCKS if b[0] == version and b[1] <= first and last <= b[2]), None)


def clean_domain(text: str) -> str | None:
    """A domain as lists write it (``*.example.org``, ``.example.org``, ``Example.org.``), or None if it is none."""
    domain = text.strip().lower().rstrip(".")
    domain = domain.removeprefix("*.").lstrip(".")
    return domain if _DOMAIN.match(domain) else None


@dataclass(frozen=True, slots=True)
class BenignLists:
    """Shared infrastructure and popular sites: networks and domains, each with the label of its list.

    A domain stands for itself and every name under it.
    """

    networks: tuple[Block, ...] = ()
    domains: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    lists: tuple[str, ...] = ()

    @classmethod
    def from_entries(
        cls, networks: Iterable[tuple[str, str]] = (), domains: Iterable[tuple[str, str]] = ()
    ) -> BenignLists:
        """Lists made by hand: ``(cidr or address, label)`` and ``(domain, label)`` pairs (for tests and tools)."""
        blocks = _first_of_each(network_block(value, label) for value, label in networks)
        table: dict[str, str] = {}
        for value, label in domains:
            domain = clean_domain(value)
            if domain is None:
                raise ValueError(f"{value!r} is not a domain name")
            table.setdefault(domain, label)
        labels = tuple(dict.fromkeys([b[3] for b in blocks] + list(table.values())))
        return cls(blocks, MappingProxyType(table), labels)

    @classmethod
    def from_warninglists(
        cls,
        network_lists: Iterable[str] = NETWORK_LISTS,
        domain_lists: Iterable[str] = POPULAR_DOMAIN_LISTS,
        folder: Path | None = None,
    ) -> BenignLists:
        """The named MISP warninglists, labelled ``warninglist:<name>``; entries that do not parse are skipped."""
        folder = folder or warninglists_folder()
        blocks: list[Block] = []
        table: dict[str, str] = {}
        used: list[str] = []
        for name in network_lists:
            label = f"warninglist:{name}"
            used.append(name)
            for entry in _read_list(folder, name, ("cidr",)):
                block = _fast_block(entry, label)
                if block is not None:
                    blocks.append(block)
        for name in domain_lists:
            label = f"warninglist:{name}"
            used.append(name)
            for entry in _read_list(folder, name, ("hostname", "string")):
                domain = clean_domain(entry)
                if domain is not None and "." in domain:
                    table.setdefault(domain, label)
        return cls(_first_of_each(blocks), MappingProxyType(table), tuple(used))

    def label_of(self, value: str) -> str | None:
        """The label of the list holding an address, CIDR or domain (a slow scan, for tools and tests)."""
        try:
            version, first, last, _ = network_block(value, "", strict=False)
        except ValueError:
            domain = clean_domain(value)
            while domain:
                if domain in self.domains:
                    return self.domains[domain]
                domain = domain.partition(".")[2]
            return None
        inside = [b for b in self.networks if b[0] == version and b[1] <= first and last <= b[2]]
        return min(inside, key=lambda b: b[2] - b[1])[3] if inside else None


def _first_of_each(blocks: Iterable[Block]) -> tuple[Block, ...]:
    """The blocks without repeats of a range: a range on several lists is labelled by the first."""
    seen: dict[tuple[int, int, int], Block] = {}
    for block in blocks:
        seen.setdefault(block[:3], block)
    return tuple(seen.values())


def warninglists_folder() -> Path:
    """Where the installed ``pymispwarninglists`` keeps its data: ``.../misp-warninglists/lists``."""
    import pymispwarninglists  # only the default lists need it

    return Path(pymispwarninglists.__file__).parent / "data" / "misp-warninglists" / "lists"


def _read_list(folder: Path, name: str, types: tuple[str, ...]) -> list[str]:
    path = folder / name / "list.json"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise LookupError(f"warninglist {name!r} cannot be read from {path}: {exc}") from exc
    if data.get("type") not in types:
        raise LookupError(f"warninglist {name!r} has type {data.get('type')!r}; expected one of {types}")
    return [str(entry) for entry in data.get("list", ())]


_DEFAULT_LOCK = threading.Lock()
_default: BenignLists | None = None


def default_benign() -> BenignLists:
    """The warninglists alertd uses by default, read on first use and kept for the life of the process."""
    global _default  # one immutable value, built lazily
    with _DEFAULT_LOCK:
        if _default is None:
            _default = BenignLists.from_warninglists()
        return _default


class _Default(enum.Enum):
    WARNINGLISTS = "warninglists"


DEFAULT: Final = _Default.WARNINGLISTS
"""Stands for :func:`default_benign` in ``MatchIndex(registry, benign=DEFAULT)``."""
DefaultLists = Literal[_Default.WARNINGLISTS]


# -- the operator's allowlist ------------------------------------------------------------------------------


def _is_exact_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Allowlist:
    """The operator's allowlist: addresses and CIDRs, domains (with every name under them), and exact values
    (a URL, an email address, a hash, a CVE, an ASN as ``AS64511``), each with the reason shown when it holds
    an indicator back."""

    networks: tuple[Block, ...] = ()
    domains: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    values: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]]) -> Allowlist:
        """Build from ``(value, reason)`` pairs; ValueError naming the entry when a value is unusable."""
        blocks: list[Block] = []
        domains: dict[str, str] = {}
        values: dict[str, str] = {}
        for value, reason in entries:
            text = value.strip()
            if not text or ("/" in text and "://" not in text and not _is_exact_network(text)):
                raise ValueError(f"unusable allowlist value {value!r} (alertd check says why)")
            label = f"allowlist: {reason.strip()}" if reason.strip() else "allowlist"
            try:
                blocks.append(network_block(text, label))
                continue
            except ValueError:
                pass
            folded = text.casefold()
            asn = _ASN.match(folded)
            domain = None if ("@" in text or "://" in text) else clean_domain(text)
            if asn:
                values.setdefault(str(int(asn.group(1))), label)
            elif domain is not None:
                domains.setdefault(domain, label)
            else:
                values.setdefault(folded, label)
        return cls(tuple(blocks), MappingProxyType(domains), MappingProxyType(values))

    def __bool__(self) -> bool:
        return bool(self.networks or self.domains or self.values)
