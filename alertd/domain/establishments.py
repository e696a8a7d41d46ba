"""The establishments of the registry as values: who they are, what they run, whom to write to."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alertd.domain.values import Severity

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


LANGUAGES = ("fr", "en")


@dataclass(frozen=True, slots=True)
class Contact:
    email: str
    role: str = "security"
    min_severity: Severity = Severity.INFO


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


@dataclass(frozen=True, slots=True)
class Registry:
    establishments: Mapping[str, Establishment]
    files: tuple[Path, ...]
