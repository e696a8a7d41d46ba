"""The registry of health establishments: one YAML file or a folder of ``*.yaml`` files (DESIGN §2)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError, Problem
from .model import SEVERITY_NAMES, Severity
from .yamlsrc import Pos, Reader, YMap, load

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LANGUAGES = ("fr", "en")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_CPE = re.compile(r"^cpe:2\.3:[aoh*-]:([^:]+):([^:]+):([^:]+)(:[^:]*){7}$")


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


def registry_files(path: Path) -> tuple[Path, ...]:
    """The YAML files making up the registry, in a stable order."""
    if path.is_dir():
        return tuple(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return (path,)


def load_registry(path: Path) -> Registry:
    """Load every registry file; duplicate ids across files are errors naming both places."""
    files = registry_files(path)
    if not files:
        raise ConfigError([Problem(str(path), 1, 1, "the registry folder holds no *.yaml file")])
    r = Reader()
    found: dict[str, tuple[Establishment, Pos]] = {}
    syntax: list[Problem] = []
    for file in files:
        try:
            data = load(file)
        except ConfigError as exc:
            syntax.extend(exc.problems)
            continue
        for est, pos in _read_file(file, data, r):
            if est.id in found:
                first = found[est.id][1]
                r.error(pos, f"duplicate establishment id {est.id!r} (first at {first.file}:{first.line})")
                continue
            found[est.id] = (est, pos)
    if syntax or r.failed:
        raise ConfigError(syntax + r.problems)
    return Registry(MappingProxyType({k: v[0] for k, v in found.items()}), files)


def _read_file(file: Path, data: object, r: Reader) -> list[tuple[Establishment, Pos]]:
    top = r.mapping(data, Pos(str(file), 1, 1), "a registry file")
    if top is None or not r.keys(top, "a registry file", ("establishments",)):
        return []
    items = r.sequence(top["establishments"], top.value_pos["establishments"], "'establishments'")
    if items is None:
        return []
    result = []
    for item, pos in zip(items, items.item_pos, strict=True):
        em = r.mapping(item, pos, "an establishment")
        if em is not None and (est := _read_establishment(em, r)) is not None:
            result.append((est, em.value_pos.get("id", pos)))
    return result


def _read_establishment(em: YMap, r: Reader) -> Establishment | None:
    before = len(r.problems)
    r.keys(
        em,
        "an establishment",
        ("id", "name"),
        (
            "aliases",
            "kind",
            "region",
            "tags",
            "language",
            "contacts",
            "networks",
            "asns",
            "domains",
            "software",
        ),
    )
    est_id = r.value(em, "id", str)
    name = r.value(em, "name", str)
    if est_id is not None and not est_id.strip():
        r.error(em.value_pos["id"], "an establishment id may not be empty")
    aliases = tuple(v for v, _ in r.strings(em, "aliases"))
    language = r.choice(em, "language", LANGUAGES, "fr") or "fr"
    networks: list[Network] = []
    for text, pos in r.strings(em, "networks"):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f"; did you mean {ipaddress.ip_network(text.strip(), strict=False)}?"
            r.error(pos, f"bad network {text!r}: {exc}{hint}")
    asns: list[int] = []
    for text, pos in r.strings(em, "asns"):
        digits = text.upper().removeprefix("AS")
        if digits.isdigit() and 0 < int(digits) < 2**32:
            asns.append(int(digits))
        else:
            r.error(pos, f"bad ASN {text!r}; write a number such as 2200 or AS2200")
    domains: list[str] = []
    for text, pos in r.strings(em, "domains"):
        domain = text.strip().lower().rstrip(".")
        if _DOMAIN.match(domain):
            domains.append(domain)
        else:
            r.error(pos, f"bad domain {text!r}; write a host name such as chu-exemple.fr")
    contacts = _read_contacts(em, r)
    software = _read_software(em, r)
    if (len(r.problems) > before and r.failed) or est_id is None or name is None:
        return None
    return Establishment(
        id=est_id,
        name=name,
        aliases=aliases,
        kind=r.value(em, "kind", str, "") or "",
        region=r.value(em, "region", str, "") or "",
        tags=frozenset(v for v, _ in r.strings(em, "tags")),
        language=language,
        contacts=contacts,
        networks=tuple(networks),
        asns=tuple(asns),
        domains=tuple(domains),
        software=software,
    )


def _read_contacts(em: YMap, r: Reader) -> tuple[Contact, ...]:
    if "contacts" not in em or (items := r.sequence(em["contacts"], em.value_pos["contacts"], "'contacts'")) is None:
        return ()
    contacts = []
    for item, pos in zip(items, items.item_pos, strict=True):
        cm = r.mapping(item, pos, "a contact")
        if cm is None or not r.keys(cm, "a contact", ("email",), ("role", "min_severity", "name")):
            continue
        email = r.value(cm, "email", str)
        if email is not None and not _EMAIL.match(email):
            r.error(cm.value_pos["email"], f"bad email address {email!r}")
            continue
        sev = r.choice(cm, "min_severity", SEVERITY_NAMES, "info")
        if email is not None and sev is not None:
            contacts.append(Contact(email, r.value(cm, "role", str, "security") or "security", Severity.parse(sev)))
    return tuple(contacts)


def _read_software(em: YMap, r: Reader) -> tuple[Software, ...]:
    if "software" not in em or (items := r.sequence(em["software"], em.value_pos["software"], "'software'")) is None:
        return ()
    result = []
    for item, pos in zip(items, items.item_pos, strict=True):
        sm = r.mapping(item, pos, "a software item")
        if sm is None or not r.keys(sm, "a software item", (), ("vendor", "product", "version", "cpe")):
            continue
        cpe = r.value(sm, "cpe", str)
        vendor, product, version = (
            r.value(sm, "vendor", str),
            r.value(sm, "product", str),
            r.value(sm, "version", str),
        )
        if cpe is not None:
            found = _CPE.match(cpe)
            if not found:
                r.error(
                    sm.value_pos["cpe"],
                    f"bad CPE {cpe!r}; write a CPE 2.3 string cpe:2.3:part:vendor:product:...",
                )
                continue
            vendor = vendor or found.group(1).replace("_", " ")
            product = product or found.group(2).replace("_", " ")
            if found.group(3) not in ("*", "-"):
                version = version or found.group(3)
        if not vendor or not product:
            r.error(pos, "a software item needs 'vendor' and 'product', or a 'cpe'")
            continue
        result.append(Software(vendor, product, version, cpe))
    return tuple(result)
