"""Text normalisation shared by the registry index and the scanners: names and products compare as tokens, and
software by a canonical product key.

"Centre Hospitalier d'Arles", "CENTRE-HOSPITALIER D ARLES" and "Centre hospitalier d’Arles" all become
``("centre", "hospitalier", "d", "arles")``; "St-Joseph" and "Saint Joseph" both become ``("saint", "joseph")``.

Software compares by a :data:`ProductKey`, (vendor key, product tokens): "Palo Alto Networks" and the CPE vendor
``paloaltonetworks`` are both ``paloalto``; "Citrix ADC", "Application Delivery Controller" and "NetScaler ADC" of
vendor Citrix are all ``("netscaler", "adc")``; "Exchange Server 2019" and the CPE product ``exchange_server`` are
both ``("exchange",)``. A key is a whole product name, never a run of its words: "IOS" is not "IOS XR". Which
names are the same product is data, the shipped alias table ``products.yaml`` (read by :class:`AliasTable`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import yaml

_WORD = re.compile(r"[0-9a-z]+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
# Letters NFKD leaves whole; without this "sœur" would split into "s" and "ur".
_LETTERS = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})
_EXPAND = {"st": "saint", "ste": "sainte"}
EXPANSIONS: dict[str, tuple[str, ...]] = {k: (v,) for k, v in _EXPAND.items()}

_COMPANY_SUFFIXES = frozenset(
    {"inc", "corp", "corporation", "ltd", "limited", "llc", "gmbh", "co", "sa", "sas", "ag", "plc", "the", "bv", "ab"}
)
# Trailing words a vendor is also known without: "Citrix Systems" is Citrix, "Palo Alto Networks" is paloalto.
_VENDOR_TAILS = (
    "systems",
    "system",
    "software",
    "networks",
    "network",
    "technologies",
    "technology",
    "foundation",
    "international",
    "communications",
    "solutions",
    "labs",
    "lab",
    "group",
    "project",
)
# Words at the end of a product name that name its packaging, not the product: "IOS XE Software" is IOS XE.
_PRODUCT_TAILS = frozenset({"software", "firmware", "appliance", "appliances"})
# Words at the end of a product name that name an edition of it, not another product: "Exchange Server 2019",
# NVD's exchange_server and KEV's "Exchange" are one product (its versions tell the editions apart).
_EDITION_WORDS = frozenset(
    {"server", "enterprise", "professional", "pro", "standard", "datacenter", "edition", "lts", "ltsc", "esr", "x64"}
)
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")
# A release or model number at the end of a name ("Windows 10", "SMA 100", "Server 2012 R2", "22H2"): kept in the
# key, but a source naming the product without it reaches it too (:attr:`Identity.head`).
_RELEASE = re.compile(r"[a-z]?[0-9][0-9a-z]*")
_PARENTHESES = re.compile(r"\([^)]*\)")  # "Endpoint Manager (EPM)": the abbreviation is not another product
_LIST = re.compile(r"\s*(?:,|/|&|\band\b)\s*")  # "IOS, IOS XR, and IOS XE"
_VAGUE = "multiple"  # "Multiple Products", "Multiple Routers": no product named precisely
_DIGIT_LETTER = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")


def fold(text: str) -> str:
    """Lower-case and strip accents: ``"Hôpital"`` → ``"hopital"``, ``"Straße"`` → ``"strasse"``."""
    text = text.casefold()
    if text.isascii():
        return text
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text.translate(_LETTERS)


def tokens(text: str) -> tuple[str, ...]:
    """Words of ``text``, accent-, case- and punctuation-insensitive, with ``St``/``Ste`` spelled out."""
    words = _WORD.findall(fold(text))
    return tuple(_EXPAND.get(word, word) for word in words)


@functools.lru_cache(maxsize=65536)
def product_tokens(text: str) -> tuple[str, ...]:
    """Tokens of a vendor or product name, without company suffixes, letters and digits apart.

    ``Citrix Systems, Inc.`` → ``("citrix", "systems")``; ``SMA100`` and ``SMA 100`` → ``("sma", "100")``.
    """
    words = _WORD.findall(_DIGIT_LETTER.sub(" ", fold(text)))
    return tuple(word for word in words if word not in _COMPANY_SUFFIXES)


@functools.lru_cache(maxsize=65536)
def _vendor_base(vendor: str) -> str:
    """A vendor's key before renames: its words run together, company suffixes and generic tails dropped."""
    key = "".join(product_tokens(vendor))
    changed = True
    while changed:
        changed = False
        for tail in _VENDOR_TAILS:
            if key.endswith(tail) and len(key) > len(tail):
                key = key[: -len(tail)]
                changed = True
    return key


@functools.lru_cache(maxsize=65536)
def vendor_key(vendor: str) -> str:
    """The key a vendor compares by: its words run together, company suffixes and generic tails dropped, and a
    bought or renamed vendor under its current name (the alias table's ``vendors``).

    "Palo Alto Networks", "palo_alto_networks" and "paloaltonetworks" are all ``paloalto``.
    """
    key = _vendor_base(vendor)
    return ALIASES.vendors.get(key, key)


def vendor_words(vendor: str) -> tuple[str, ...]:
    """The words that name a vendor in prose: "Citrix Systems, Inc." is written "Citrix"."""
    words = tuple(w for w in tokens(vendor) if w not in _COMPANY_SUFFIXES)
    short = tuple(w for w in words if w not in _VENDOR_TAILS)
    return short or words


# -- product identity --------------------------------------------------------------------------------------------

ProductKey = tuple[str, tuple[str, ...]]  # (vendor key, product tokens)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a product name names: its vendor key, its product words (``head``), and a release or model number
    written after them (``tail``: "Windows **10**"). ``exact`` when nothing was dropped from the name (no edition,
    year or packaging word): only then do the product's other names stand for this very item in prose."""

    vendor: str
    head: tuple[str, ...]
    tail: tuple[str, ...] = ()
    exact: bool = True

    @property
    def key(self) -> ProductKey:
        """The product key: the vendor key, and the head and tail words."""
        return self.vendor, self.head + self.tail


def _raw_words(text: str) -> list[str]:
    """A name's folded words, without parentheses and company suffixes, digits and letters still together."""
    return [w for w in _WORD.findall(fold(_PARENTHESES.sub(" ", text))) if w not in _COMPANY_SUFFIXES]


def _split(words: Iterable[str]) -> tuple[str, ...]:
    """Letters and digits apart: ``sma100`` → ``sma``, ``100``."""
    return tuple(part for word in words for part in _DIGIT_LETTER.sub(" ", word).split())


def _unpackaged(words: list[str]) -> list[str]:
    """A name's words without the packaging words at the end ("IOS XE Software" → ios xe); one word stays."""
    whole = list(words)
    while len(whole) > 1 and whole[-1] in _PRODUCT_TAILS:
        whole.pop()
    return whole


def _cut(words: list[str]) -> tuple[list[str], list[str], bool]:
    """A name's words without packaging, edition and year words at the end, the release words found among them
    set apart: ``(head, tail, dropped)``. One word always stays."""
    head, tail, dropped = list(words), list[str](), False
    while len(head) > 1:
        word = head[-1]
        if word in _PRODUCT_TAILS or word in _EDITION_WORDS or _YEAR.fullmatch(word):
            dropped = True
        elif _RELEASE.fullmatch(word):
            tail.insert(0, word)
        else:
            break
        head.pop()
    return head, tail, dropped


@dataclass(slots=True)
class AliasTable:
    """The alias table: vendor renames, other names of products and their components, umbrella names.

    Built by :func:`load_aliases` from ``products.yaml`` (its header says how to read and extend it).
    """

    vendors: dict[str, str] = field(default_factory=dict)
    names: dict[ProductKey, tuple[str, ...]] = field(default_factory=dict)  # another name → the product's words
    umbrellas: dict[ProductKey, frozenset[ProductKey]] = field(default_factory=dict)
    # Every name the table knows, per vendor key, as prose writes it (tokens): a mention of "IOS" inside one of
    # them ("IOS XR") is not a mention of IOS.
    phrases: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)
    spellings: dict[ProductKey, set[tuple[str, ...]]] = field(default_factory=dict)  # key → its names, as tokens

    def vendor(self, vendor: str) -> str:
        """The vendor key of ``vendor`` under this table's renames."""
        key = _vendor_base(vendor)
        return self.vendors.get(key, key)

    def identify(self, vendor: str, product: str) -> Identity | None:
        """What one product name names, or None when it names nothing precise ("Multiple Products").

        The vendor's name in front is dropped ("Citrix NetScaler ADC" → ``netscaler adc``), and so are packaging,
        edition and year words at the end; another name of a product (the table's ``products``, ``components``)
        becomes the product's.
        """
        vkey = self.vendor(vendor)
        words = self._product_words(vkey, vendor, product)
        if not words or _VAGUE in words:
            return None
        named = self.names.get((vkey, _split(_unpackaged(words))))
        if named is not None:
            return Identity(vkey, named)
        head, tail, dropped = _cut(words)
        words_of_head = _split(head)
        return Identity(
            vkey, self.names.get((vkey, words_of_head), words_of_head), _split(tail), not dropped and not tail
        )

    def signature(self, vendor: str, product: str) -> ProductKey | None:
        """One product name as precisely as it is written, for judging versions: the identity's key when nothing
        was dropped from the name, else the whole name but its packaging words ("Windows Server 2019" is not
        "Windows Server 2008", though both are Windows); another name of a product becomes the product's."""
        identity = self.identify(vendor, product)
        if identity is None or identity.exact:
            return identity.key if identity is not None else None
        vkey = self.vendor(vendor)
        whole = _split(_unpackaged(self._product_words(vkey, vendor, product)))
        return vkey, self.names.get((vkey, whole), whole)

    @staticmethod
    def _product_words(vkey: str, vendor: str, product: str) -> list[str]:
        """A product name's words, the vendor's name in front dropped ("Citrix NetScaler ADC" → netscaler adc)."""
        words = _raw_words(product)
        for prefix in (_raw_words(vendor), [vkey], [_vendor_base(vendor)]):
            if prefix and words[: len(prefix)] == prefix and len(words) > len(prefix):
                return words[len(prefix) :]
        return words

    def signatures(self, vendor: str, product: str) -> frozenset[ProductKey]:
        """The signatures of each product of a list, umbrella names not expanded (a range NVD publishes for
        Chromium is Chrome's build numbers, not Edge's)."""
        found = {self.signature(vendor, part) for part in _LIST.split(product) if part.strip()}
        return frozenset(key for key in found if key is not None)

    def keys(self, vendor: str, product: str) -> frozenset[ProductKey]:
        """The keys a source's product name stands for: each product of a list ("IOS, IOS XR, and IOS XE"), an
        umbrella name as the products it covers ("Chromium V8" → Chromium, Chrome, Edge)."""
        found: set[ProductKey] = set()
        for part in _LIST.split(product):
            identity = self.identify(vendor, part) if part.strip() else None
            if identity is not None:
                key = identity.key
                found.update(self.umbrellas.get(key, (key,)))
        return frozenset(found)


class AliasError(ValueError):
    """The alias table is not well formed, or claims one name for two products."""


def load_aliases(text: str, source: str = "products.yaml") -> AliasTable:
    """The alias table written in ``text`` (YAML, as ``products.yaml``); :class:`AliasError` says what is wrong.

    Refused: a name claimed by two different products, a product's other name that is itself another product,
    a vendor renamed to a vendor itself renamed, an umbrella over a product that does not parse.
    """
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping) or set(data) - {"vendors", "products", "components", "umbrellas"}:
        raise AliasError(f"{source}: the top level holds vendors, products, components and umbrellas")
    table = AliasTable()
    for old, new in _mapping(data.get("vendors"), source, "vendors").items():
        table.vendors[_vendor_base(old)] = _vendor_base(_text(new, source, f"vendors.{old}"))
    for old, new in table.vendors.items():
        if new in table.vendors:
            raise AliasError(f"{source}: vendor {old} is renamed {new}, itself renamed {table.vendors[new]}")
    canonical: dict[ProductKey, str] = {}  # product key → where the table declares it
    claims: dict[ProductKey, tuple[tuple[str, ...], str]] = {}  # another name → (product words, where)

    def product_words(name: str) -> tuple[str, ...]:
        head, tail, _ = _cut(_raw_words(name))
        return _split(head) + _split(tail)

    def claim(vkey: str, words: tuple[str, ...], target: tuple[str, ...], where: str) -> None:
        if not words:
            raise AliasError(f"{source}: {where}: a name without words")
        held = claims.get((vkey, words))
        if held is not None and held[0] != target:
            raise AliasError(
                f"{source}: {where}: {' '.join(words)!r} is already a name of {' '.join(held[0])!r} ({held[1]})"
            )
        claims[(vkey, words)] = (target, where)

    sections = ("products", "components")
    for section in sections:
        for vendor, products in _mapping(data.get(section), source, section).items():
            vkey = table.vendor(str(vendor))
            for product, others in _mapping(products, source, f"{section}.{vendor}").items():
                target = product_words(str(product))
                canonical.setdefault((vkey, target), f"{section}.{vendor}.{product}")
                table.phrases.setdefault(vkey, set()).add(tokens(str(product)))
                table.spellings.setdefault((vkey, target), set()).add(tokens(str(product)))
                for other in _texts(others, source, f"{section}.{vendor}.{product}"):
                    where = f"{section}.{vendor}.{product}: {other}"
                    if section == "products":
                        words = _split(w for w in _raw_words(other))
                        while len(words) > 1 and words[-1] in _PRODUCT_TAILS:
                            words = words[:-1]
                        table.spellings[(vkey, target)].add(tokens(other))
                        table.phrases[vkey].add(tokens(other))
                    else:
                        words = target + _split(_raw_words(other))
                        table.phrases[vkey].add(tokens(f"{product} {other}"))
                    claim(vkey, words, target, where)
    for (vkey, words), (target, where) in claims.items():
        if (vkey, words) in canonical and words != target:
            raise AliasError(
                f"{source}: {where}: {' '.join(words)!r} is a product of its own ({canonical[(vkey, words)]})"
            )
        table.names[(vkey, words)] = target
    for vendor, umbrellas in _mapping(data.get("umbrellas"), source, "umbrellas").items():
        vkey = table.vendor(str(vendor))
        for name, covered in _mapping(umbrellas, source, f"umbrellas.{vendor}").items():
            where = f"umbrellas.{vendor}.{name}"
            identity = table.identify(str(vendor), str(name))
            if identity is None:
                raise AliasError(f"{source}: {where}: the name names no product")
            keys: set[ProductKey] = set()
            for entry in _texts(covered, source, where):
                target_vendor, colon, target_product = entry.partition(":")
                found = table.identify(target_vendor, target_product) if colon else None
                if found is None:
                    raise AliasError(f"{source}: {where}: {entry!r} is not a vendor:product")
                keys.add(found.key)
            table.umbrellas[identity.key] = frozenset(keys)
            table.phrases.setdefault(vkey, set()).add(tokens(str(name)))
    for umbrella, covered_keys in table.umbrellas.items():
        for inner in covered_keys - {umbrella}:
            if inner in table.umbrellas:
                raise AliasError(
                    f"{source}: umbrella {' '.join(umbrella[1])!r} covers another umbrella {' '.join(inner[1])!r}"
                )
    return table


def _mapping(value: object, source: str, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AliasError(f"{source}: {where}: expected a mapping")
    return value


def _text(value: object, source: str, where: str) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise AliasError(f"{source}: {where}: expected a name")
    return str(value)


def _texts(value: object, source: str, where: str) -> list[str]:
    if isinstance(value, list):
        return [_text(item, source, where) for item in value]
    return [_text(value, source, where)]


ALIASES = load_aliases(files("alertd.match").joinpath("products.yaml").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=65536)
def identify(vendor: str, product: str) -> Identity | None:
    """What a product name names under the shipped alias table (:meth:`AliasTable.identify`)."""
    return ALIASES.identify(vendor, product)


def product_key(vendor: str, product: str) -> ProductKey | None:
    """The key of one product name, or None when it names nothing precise.

    The vendor's name in front is dropped ("Citrix NetScaler ADC" → ``("netscaler", "adc")``), and so are
    packaging words ("IOS XE Software" → ``("ios", "xe")``) and edition or year words at the end; renamed
    products get their current name.
    """
    identity = identify(vendor, product)
    return identity.key if identity is not None else None


@functools.lru_cache(maxsize=65536)
def product_signatures(vendor: str, product: str) -> frozenset[ProductKey]:
    """The signatures of a source's product name (:meth:`AliasTable.signatures`): what its ranges may judge."""
    return ALIASES.signatures(vendor, product)


@functools.lru_cache(maxsize=65536)
def product_keys(vendor: str, product: str) -> frozenset[ProductKey]:
    """The canonical keys a source's product name stands for (:meth:`AliasTable.keys`): none for "Multiple
    Products", both for "NetScaler ADC and NetScaler Gateway", Chrome and Edge among others for "Chromium V8"."""
    return ALIASES.keys(vendor, product)
