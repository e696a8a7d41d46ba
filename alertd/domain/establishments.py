"""The establishments of the registry as values: who they are, what they run, whom to write to."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alertd.domain.values import Severity

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


LANGUAGES = ("fr", "en")


ESCALATION_ROLE = "escalation"  # a contact's role: who gets the reminder of a warning left unanswered


@dataclass(frozen=True, slots=True)
class Contact:
    email: str
    role: str = "security"  # "escalation": who gets a warning left unanswered (contract §4)
    min_severity: Severity = Severity.INFO
    phone: str = ""  # as written in the registry; the operators' "to call" list shows it


@dataclass(frozen=True, slots=True)
class Software:
    """A product the establishment runs; ``version`` None means "version unknown"."""

    vendor: str
    product: str
    version: str | None = None
    cpe: str | None = None

    def __str__(self) -> str:
        return f"{self.vendor} {self.product}" + (f" {self.version}" if self.version else "")


@dataclass(frozen=True, slots=True)
class Finess:
    """What the national registry FINESS says of an establishment (``alertd registry import finess`` writes it;
    a re-import replaces it). Dates are ISO ``YYYY-MM-DD`` text; ``closed`` is empty while the establishment is
    open, and the date of the import that no longer found it otherwise."""

    et: str  # the establishment's FINESS number (nofinesset)
    ej: str = ""  # its legal entity's FINESS number (nofinessej)
    long_name: str = ""  # raison sociale longue; the short one is the establishment's ``name``
    category_label: str = ""  # the label of ``Establishment.category``, e.g. "Centre Hospitalier (C.H.)"
    address: str = ""
    department: str = ""  # code, e.g. "13", "2A", "971"
    opened: str = ""
    updated: str = ""
    closed: str = ""


@dataclass(frozen=True, slots=True)
class Establishment:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    kind: str = ""
    region: str = ""
    tags: frozenset[str] = frozenset()
    language: str = "fr"
    contacts: tuple[Contact, ...] = ()
    networks: tuple[Network, ...] = ()
    asns: tuple[int, ...] = ()
    domains: tuple[str, ...] = ()
    software: tuple[Software, ...] = ()
    city: str = ""  # the commune, as the registry writes it (FINESS: "ARLES")
    postcode: str = ""
    country: str = "FR"  # ISO 3166-1 alpha-2
    category: str = ""  # a category code (FINESS: "355", centre hospitalier) or the operator's own word
    acronyms: tuple[str, ...] = ()  # declared by the operator ("CHSF"): matched in upper case, with context
    finess: Finess | None = None

    @property
    def closed(self) -> bool:
        """FINESS no longer lists the establishment: it stays in the registry, marked, and its names are not
        looked for."""
        return self.finess is not None and bool(self.finess.closed)


@dataclass(frozen=True, slots=True)
class Registry:
    establishments: Mapping[str, Establishment]
    files: tuple[Path, ...]
