"""The registry's rules (contract §2), once, over plain values whichever YAML parser read them.

The rules take what a parser made of a registry file — ``dict``, ``list``, ``str`` — and return an
:class:`~alertd.domain.establishments.Establishment` for each item, or the :class:`Fault` s that keep it from being
one: each with its *path* inside the item (``("networks", 2)``, ``("contacts", 0, "email")``) and its message.
They know no file and no position. The loader (:mod:`alertd.config.registry`) runs them on the fast parser's
values, and for an item that fails, or whose text the fast parser may have typed differently, on PyYAML's reading
of that item — the reference — whose marks turn each path into ``file:line:col``
(:func:`~alertd.config.yamlsrc.position`).

Text is a ``str``; an ``int`` stands for its digits, as the fast parser types ``2019`` (the loader checks that the
file holds no scalar whose digits would not read back the same once :attr:`Rules.ints` says one was read).
Anything else is not text: a float, a boolean or null. Read as text by PyYAML, ``7.10`` and ``true`` are text.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from alertd.config.yamlsrc import describe
from alertd.config.yamlwords import near_miss
from alertd.domain.cpe import FORMATTED_PREFIX, parse_cpe
from alertd.domain.establishments import LANGUAGES, Contact, Establishment, Finess, Network, Software
from alertd.domain.grammar import ASCII_DOMAIN as _DOMAIN
from alertd.domain.grammar import CONTACT_EMAIL as _EMAIL
from alertd.domain.values import SEVERITY_NAMES, Severity

_T = TypeVar("_T")

KEY = "establishments"  # the one key of a registry file


@dataclass(frozen=True, slots=True)
class Fault:
    """A rule that a value breaks: where it stands inside the item, and what the operator should know."""

    path: tuple[object, ...]  # keys and list indexes from the item down to the value at fault
    message: str
    on_key: bool = False  # the key at the end of ``path`` is at fault (an unknown key), not its value


class BadValue(Exception):
    """A value breaks one of the value rules below; ``message`` says how."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the field of a software item at fault; None for the item itself


# --- the value rules: one text in, one value out ----------------------------------------------------------------

_PLAIN_V4 = re.compile(r"[0-9.]{7,15}/[0-9]{1,3}")
_PLAIN_V6 = re.compile(r"[0-9A-Fa-f:]{2,39}/[0-9]{1,3}")


def network(text: str) -> Network:
    """An IPv4 or IPv6 network without host bits; a bad one is refused with the network it probably meant."""
    address = text.strip()
    # ipaddress parses address text in Python (7 us for IPv6); the C parser of the socket module accepts the same
    # plain forms (digits and dots; hex digits and colons) and yields the same network from its number.
    with contextlib.suppress(OSError, ValueError):
        if _PLAIN_V4.fullmatch(address):
            host, _, bits = address.partition("/")
            return ipaddress.IPv4Network((int.from_bytes(socket.inet_pton(socket.AF_INET, host)), int(bits)))
        if _PLAIN_V6.fullmatch(address):
            host, _, bits = address.partition("/")
            return ipaddress.IPv6Network((int.from_bytes(socket.inet_pton(socket.AF_INET6, host)), int(bits)))
    try:
        return ipaddress.ip_network(address, strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; did you mean {ipaddress.ip_network(address, strict=False)}?"
        raise BadValue(f"bad network {text!r}: {exc}{hint}") from None


def asn(text: str) -> int:
    """An AS number: digits, with or without ``AS``; written as YAML writes integers (``2_200``, ``0x898``) too,
    so that an ASN reads the same whether YAML typed it as a number or the registry took it as text."""
    value = _yaml_int(text.upper().removeprefix("AS"))
    if value is not None and 0 < value < 2**32:
        return value
    raise BadValue(f"bad ASN {text!r}; write a number such as 2200 or AS2200")


def _yaml_int(text: str) -> int | None:
    """A non-negative integer in YAML 1.2's spellings (``+``, ``_``, ``0x``, ``0o``, ``0b``), or None."""
    body = text.removeprefix("+").replace("_", "")
    base = {"0X": 16, "0O": 8, "0B": 2}.get(body[:2].upper(), 10)
    digits = body if base == 10 else body[2:]
    if not (digits.isascii() and digits.isalnum()):
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def domain(text: str) -> str:
    """A host name, lower-case and without the final dot."""
    name = text.strip().lower().rstrip(".")
    if _DOMAIN.match(name):
        return name
    raise BadValue(f"bad domain {text!r}; write a host name such as chu-exemple.fr")


def email(text: str) -> str:
    """An email address as written, when it looks like one."""
    if _EMAIL.match(text):
        return text
    raise BadValue(f"bad email address {text!r}")


def _text_itself(text: str) -> str:
    """The rule of free text (aliases, tags): any text is good."""
    return text


def acronym(text: str) -> str:
    """An acronym the establishment is known by (``CHSF``, ``HEGP``): letters and digits, at least two, with at
    least one letter; matched in upper case only."""
    word = text.strip()
    if 2 <= len(word) <= 12 and word.isascii() and word.isalnum() and not word.isdigit():
        return word.upper()
    raise BadValue(f"bad acronym {text!r}; write 2 to 12 letters or digits, such as CHSF")


def software(vendor: str | None, product: str | None, version: str | None, cpe: str | None) -> Software:
    """A software item from its fields; a CPE names the vendor, product and version that the fields leave out."""
    if cpe is not None:
        # The registry takes the 2.3 formatted string only: what NVD publishes, and what the index compares.
        parsed = parse_cpe(cpe) if cpe.startswith(FORMATTED_PREFIX) else None
        if parsed is None:
            raise BadValue(f"bad CPE {cpe!r}; write a CPE 2.3 string cpe:2.3:part:vendor:product:...", field="cpe")
        vendor = vendor or (parsed.vendor or "").replace("_", " ")
        product = product or (parsed.product or "").replace("_", " ")
        version = version or parsed.version
    if not vendor or not product:
        raise BadValue("a software item needs 'vendor' and 'product', or a 'cpe'")
    return Software(vendor, product, version, cpe)


# --- the shapes: which keys a mapping takes ---------------------------------------------------------------------


class _Keys:
    """The keys a mapping must and may hold, and the words that name the mapping in messages."""

    __slots__ = ("_allowed", "_required", "allowed", "required", "what")

    def __init__(self, what: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
        self.what = what
        self.required = required
        self.allowed = required + optional
        self._required = frozenset(required)
        self._allowed = frozenset(self.allowed)

    def fits(self, m: dict[Any, Any]) -> bool:
        """True when ``m`` holds every required key and no other than the optional ones."""
        return self._required <= m.keys() <= self._allowed

    def check(self, m: dict[Any, Any], path: tuple[object, ...], faults: list[Fault]) -> bool:
        """True when ``m`` holds every required key and no other than the optional ones; faults otherwise."""
        if self._required <= m.keys() <= self._allowed:
            return True
        allowed = ", ".join(self.allowed)
        for key in m:
            if key not in self._allowed:
                hint = near_miss(key, self.allowed)
                faults.append(
                    Fault((*path, key), f"unknown key {key!r} in {self.what}{hint}; allowed: {allowed}", True)
                )
        for key in self.required:
            if key not in m:
                faults.append(Fault(path, f"{self.what} lacks required key {key!r}"))
        return False


_FILE = _Keys("a registry file", (KEY,), ())
_ESTABLISHMENT = _Keys(
    "an establishment",
    ("id", "name"),
    (
        "aliases",
        "acronyms",
        "kind",
        "region",
        "tags",
        "language",
        "contacts",
        "networks",
        "asns",
        "domains",
        "software",
        "city",
        "postcode",
        "country",
        "category",
        "finess",
    ),
)
_FINESS = _Keys(
    "a FINESS record",
    ("et",),
    ("ej", "long_name", "category_label", "address", "department", "opened", "updated", "closed"),
)
_COUNTRY = re.compile(r"[A-Z]{2}")
_CONTACT = _Keys("a contact", ("email",), ("role", "min_severity", "name", "phone"))
# A phone number as people write them (+33 5 56 79 56 79, 05.56.79.56.79, (0)5 56…): shown to the operators who
# call, never dialled by alertd; bounded so that a registry cannot put a paragraph in the "to call" list.
_PHONE = re.compile(r"\+?[0-9()][0-9 .()/-]{2,30}")
_SOFTWARE = _Keys("a software item", (), ("vendor", "product", "version", "cpe"))
_SEVERITIES = {name: Severity.parse(name) for name in SEVERITY_NAMES}
_ABSENT: Any = object()


def registry_items(document: Any) -> tuple[list[Any], list[Fault]]:
    """The items of a registry file's ``establishments`` list, or the faults of the file's shape."""
    if not isinstance(document, dict):
        return [], [Fault((), f"a registry file must be a mapping of keys to values, not {describe(document)}")]
    faults: list[Fault] = []
    if not _FILE.check(document, (), faults):
        return [], faults
    items = document[KEY]
    if not isinstance(items, list):
        return [], [Fault((KEY,), f"{KEY!r} must be a list, not {describe(items)}")]
    return items, []


class Rules:
    """The rules applied to the items of one file, keeping what spans items.

    ``ints`` records that a number stood for its digits (see the module's docstring). Identical software items
    share one object: registries repeat the same products.
    """

    __slots__ = ("_software", "ints")

    def __init__(self) -> None:
        self.ints = False
        self._software: dict[tuple[tuple[Any, Any], ...], Software] = {}

    def establishment(self, item: Any) -> Establishment | list[Fault]:
        """The item as an establishment, or every fault that keeps it from being one."""
        if not isinstance(item, dict):
            return [Fault((), f"an establishment must be a mapping of keys to values, not {describe(item)}")]
        ints = self.ints
        if (plain := self._plain(item)) is not None:
            return plain
        self.ints = ints  # what the plain reading saw is seen again below
        faults: list[Fault] = []
        text = self._text
        _ESTABLISHMENT.check(item, (), faults)
        est_id = text(item, "id", None, (), faults)
        name = text(item, "name", None, (), faults)
        if est_id is not None and not est_id.strip():
            faults.append(Fault(("id",), "an establishment id may not be empty"))
        aliases = self._each(item, "aliases", _text_itself, faults)
        language = self._choice(item, "language", LANGUAGES, "fr", (), faults)
        networks = self._each(item, "networks", network, faults)
        asns = self._each(item, "asns", asn, faults, ints_exact=True)
        domains = self._each(item, "domains", domain, faults)
        contacts = self._contacts(item, faults)
        software_items = self._software_items(item, faults)
        kind = text(item, "kind", "", (), faults)
        region = text(item, "region", "", (), faults)
        tags = self._each(item, "tags", _text_itself, faults)
        acronyms = self._each(item, "acronyms", acronym, faults)
        city = text(item, "city", "", (), faults)
        postcode = text(item, "postcode", "", (), faults)
        category = text(item, "category", "", (), faults)
        country = text(item, "country", "FR", (), faults)
        if country is not None and not _COUNTRY.fullmatch(country):
            faults.append(Fault(("country",), f"bad country {country!r}; write an ISO 3166 code such as FR or BE"))
        finess = self._finess(item, faults)
        if (
            faults
            or est_id is None
            or name is None
            or language is None
            or kind is None
            or region is None
            or city is None
            or postcode is None
            or category is None
            or country is None
        ):
            self.ints = ints  # the item is read again anyway: its numbers need no check of the file's text
            return faults
        return Establishment(
            id=est_id,
            name=name,
            aliases=aliases,
            kind=kind,
            region=region,
            tags=frozenset(tags),
            language=language,
            contacts=contacts,
            networks=networks,
            asns=asns,
            domains=domains,
            software=software_items,
            city=city,
            postcode=postcode,
            country=country,
            category=category,
            acronyms=acronyms,
            finess=finess,
        )

    def _plain(self, item: dict[Any, Any]) -> Establishment | None:
        """The item as an establishment when it breaks no rule and each of its single texts is a ``str``, the common
        case (95,000 FINESS items, 2.3 s through :meth:`establishment`'s general path, 1 s here); None for the
        general path to decide and say what is wrong. Equal to the general path wherever it returns: the same
        rules, without a fault list per text."""
        if not _ESTABLISHMENT.fits(item):
            return None
        get = item.get
        est_id, name, kind, region = get("id"), get("name"), get("kind", ""), get("region", "")
        city, postcode, category = get("city", ""), get("postcode", ""), get("category", "")
        country, language = get("country", "FR"), get("language", "fr")
        if (
            type(est_id) is not str
            or type(name) is not str
            or type(kind) is not str
            or type(region) is not str
            or type(city) is not str
            or type(postcode) is not str
            or type(category) is not str
            or type(country) is not str
            or type(language) is not str
            or not est_id.strip()
            or language not in LANGUAGES
            or not _COUNTRY.fullmatch(country)
        ):
            return None
        faults: list[Fault] = []
        each = self._each
        aliases = each(item, "aliases", _text_itself, faults) if "aliases" in item else ()
        networks = each(item, "networks", network, faults) if "networks" in item else ()
        asns = each(item, "asns", asn, faults, ints_exact=True) if "asns" in item else ()
        domains = each(item, "domains", domain, faults) if "domains" in item else ()
        contacts = self._contacts(item, faults) if "contacts" in item else ()
        software_items = self._software_items(item, faults) if "software" in item else ()
        tags = each(item, "tags", _text_itself, faults) if "tags" in item else ()
        acronyms = each(item, "acronyms", acronym, faults) if "acronyms" in item else ()
        finess = self._finess(item, faults) if "finess" in item else None
        if faults:
            return None
        return Establishment(
            id=est_id,
            name=name,
            aliases=aliases,
            kind=kind,
            region=region,
            tags=frozenset(tags),
            language=language,
            contacts=contacts,
            networks=networks,
            asns=asns,
            domains=domains,
            software=software_items,
            city=city,
            postcode=postcode,
            country=country,
            category=category,
            acronyms=acronyms,
            finess=finess,
        )

    def _text(
        self, m: dict[Any, Any], key: str, default: str | None, path: tuple[object, ...], faults: list[Fault]
    ) -> str | None:
        """``m[key]`` as text, ``default`` when absent, None after a fault."""
        value = m.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        if type(value) is str:
            return value
        if type(value) is int:  # not bool: type() is exact
            self.ints = True
            return str(value)
        faults.append(Fault((*path, key), f"{key!r} must be a string, not {describe(value)}"))
        return None

    def _choice(
        self,
        m: dict[Any, Any],
        key: str,
        allowed: tuple[str, ...],
        default: str,
        path: tuple[object, ...],
        faults: list[Fault],
    ) -> str | None:
        """``m[key]`` when it is one of ``allowed``; ``default`` when absent; None after a fault."""
        value = self._text(m, key, default, path, faults)
        if value is not None and value not in allowed:
            faults.append(
                Fault((*path, key), f"{key!r} is {value!r}{near_miss(value, allowed)}; allowed: {', '.join(allowed)}")
            )
            return None
        return value

    def _each(
        self,
        m: dict[Any, Any],
        key: str,
        rule: Callable[[str], _T],
        faults: list[Fault],
        *,
        ints_exact: bool = False,
    ) -> tuple[_T, ...]:
        """``rule`` applied to the text under ``key``, one value or a list of them; ``()`` when absent.

        ``ints_exact`` says that the rule reads a number the same whatever its spelling (ASNs), so that a number
        needs no check of the file's text.
        """
        value = m.get(key, _ABSENT)
        if value is _ABSENT:
            return ()
        listed = isinstance(value, list)
        result = []
        refused: list[Fault] = []  # reported after every value's type: the order in which the operator sees them
        for number, one in enumerate(value if listed else (value,)):
            if type(one) is str:
                text = one
            elif type(one) is int:
                self.ints = self.ints or not ints_exact
                text = str(one)
            else:
                faults.append(Fault((key, number) if listed else (key,), f"{key!r} takes strings, not {describe(one)}"))
                continue
            try:
                result.append(rule(text))
            except BadValue as bad:
                refused.append(Fault((key, number) if listed else (key,), bad.message))
        faults += refused
        return tuple(result)

    def _finess(self, item: dict[Any, Any], faults: list[Fault]) -> Finess | None:
        value = item.get("finess", _ABSENT)
        if value is _ABSENT:
            return None
        path: tuple[object, ...] = ("finess",)
        if not isinstance(value, dict):
            faults.append(Fault(path, f"'finess' must be a mapping of keys to values, not {describe(value)}"))
            return None
        if not _FINESS.check(value, path, faults):
            return None
        # The keys are known ones (checked above): texts as written go straight in, the common case. Otherwise
        # each value is read as text or refused, key by key.
        if all(type(one) is str for one in value.values()):
            return Finess(**value)
        before = len(faults)
        fields = {key: self._text(value, key, "", path, faults) or "" for key in value}
        return Finess(**fields) if len(faults) == before else None

    def _contacts(self, item: dict[Any, Any], faults: list[Fault]) -> tuple[Contact, ...]:
        value = item.get("contacts", _ABSENT)
        if value is _ABSENT:
            return ()
        if not isinstance(value, list):
            faults.append(Fault(("contacts",), f"'contacts' must be a list, not {describe(value)}"))
            return ()
        contacts = []
        for number, one in enumerate(value):
            if (contact := self._contact(one, ("contacts", number), faults)) is not None:
                contacts.append(contact)
        return tuple(contacts)

    def _contact(self, c: Any, path: tuple[object, ...], faults: list[Fault]) -> Contact | None:
        if not isinstance(c, dict):
            faults.append(Fault(path, f"a contact must be a mapping of keys to values, not {describe(c)}"))
            return None
        if not _CONTACT.check(c, path, faults):
            return None
        address = self._text(c, "email", None, path, faults)
        self._text(c, "name", None, path, faults)
        if address is not None:
            try:
                email(address)
            except BadValue as bad:
                faults.append(Fault((*path, "email"), bad.message))
                return None
        severity = self._choice(c, "min_severity", SEVERITY_NAMES, "info", path, faults)
        role = self._text(c, "role", "security", path, faults)
        phone = self._text(c, "phone", "", path, faults)
        if phone and not _PHONE.fullmatch(phone):
            faults.append(Fault((*path, "phone"), f"{phone!r} is not a phone number: digits, spaces, + . - ( ) /"))
            phone = None
        if address is None or severity is None or phone is None:
            return None
        return Contact(address, role or "security", _SEVERITIES[severity], phone)

    def _software_items(self, item: dict[Any, Any], faults: list[Fault]) -> tuple[Software, ...]:
        value = item.get("software", _ABSENT)
        if value is _ABSENT:
            return ()
        if not isinstance(value, list):
            faults.append(Fault(("software",), f"'software' must be a list, not {describe(value)}"))
            return ()
        known = self._software
        result = []
        for number, one in enumerate(value):
            seen: tuple[tuple[Any, Any], ...] | None = None
            if isinstance(one, dict):
                seen = tuple(one.items())
                try:
                    if (same := known.get(seen)) is not None:
                        result.append(same)
                        continue
                except TypeError:  # a list or a mapping among the values: nothing to share
                    seen = None
            if (found := self._software_item(one, ("software", number), faults)) is not None:
                result.append(found)
                if seen is not None and all(type(v) is str for _, v in seen):  # never 7 for "7", nor 1 for True
                    known[seen] = found
        return tuple(result)

    def _software_item(self, s: Any, path: tuple[object, ...], faults: list[Fault]) -> Software | None:
        if not isinstance(s, dict):
            faults.append(Fault(path, f"a software item must be a mapping of keys to values, not {describe(s)}"))
            return None
        if not _SOFTWARE.check(s, path, faults):
            return None
        before = len(faults)
        text = self._text
        cpe = text(s, "cpe", None, path, faults)
        vendor, product, version = (
            text(s, "vendor", None, path, faults),
            text(s, "product", None, path, faults),
            text(s, "version", None, path, faults),
        )
        try:
            found = software(vendor, product, version, cpe)
        except BadValue as bad:
            faults.append(Fault((*path, bad.field) if bad.field else path, bad.message))
            return None
        return found if len(faults) == before else None
