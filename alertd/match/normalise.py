"""Text normalisation shared by the registry index and the scanners: names and products compare as tokens.

"Centre Hospitalier d'Arles", "CENTRE-HOSPITALIER D ARLES" and "Centre hospitalier d’Arles" all become
``("centre", "hospitalier", "d", "arles")``; "St-Joseph" and "Saint Joseph" both become ``("saint", "joseph")``.

Software names compare by a vendor key and product tokens: "Palo Alto Networks" and the CPE vendor
``paloaltonetworks`` are both ``paloalto``; "Citrix ADC", "Application Delivery Controller" and "NetScaler ADC" of
vendor Citrix are all ``("netscaler", "adc")``.
"""

from __future__ import annotations

import functools
import re
import unicodedata

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
# Vendors that were bought or renamed: their products are matched under the new name.
VENDOR_ALIASES: dict[str, str] = {
    "pulsesecure": "ivanti",
    "mobileiron": "ivanti",
    "netscaler": "citrix",
    "vmwarebybroadcom": "vmware",
    "fortinetinc": "fortinet",
    "microsoftcorporation": "microsoft",
}
# Renamed products, keyed by (vendor key, product tokens) → the tokens they are indexed under.
_PRODUCT_ALIAS_TEXT = {
    "citrix": {
        "adc": "netscaler adc",
        "application delivery controller": "netscaler adc",
        "application delivery controller firmware": "netscaler adc",
        "netscaler application delivery controller": "netscaler adc",
        "netscaler application delivery controller firmware": "netscaler adc",
        "gateway": "netscaler gateway",
        "gateway firmware": "netscaler gateway",
        "netscaler gateway firmware": "netscaler gateway",
    },
    "ivanti": {
        "pulse connect secure": "connect secure",
        "pulse policy secure": "policy secure",
        "ivanti connect secure": "connect secure",
    },
    "microsoft": {"exchange": "exchange server"},
    "paloalto": {"panos": "pan os"},
}
# Words at the end of a product name that name its packaging, not the product: "IOS XE Software" is IOS XE.
_PRODUCT_TAILS = frozenset({"software", "firmware", "appliance", "appliances"})
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
def vendor_key(vendor: str) -> str:
    """The key a vendor compares by: its words run together, company suffixes and generic tails dropped.

    "Palo Alto Networks", "palo_alto_networks" and "paloaltonetworks" are all ``paloalto``.
    """
    key = "".join(product_tokens(vendor))
    changed = True
    while changed:
        changed = False
        for tail in _VENDOR_TAILS:
            if key.endswith(tail) and len(key) > len(tail):
                key = key[: -len(tail)]
                changed = True
    return VENDOR_ALIASES.get(key, key)


def vendor_words(vendor: str) -> tuple[str, ...]:
    """The words that name a vendor in prose: "Citrix Systems, Inc." is written "Citrix"."""
    words = tuple(w for w in tokens(vendor) if w not in _COMPANY_SUFFIXES)
    short = tuple(w for w in words if w not in _VENDOR_TAILS)
    return short or words


_PRODUCT_ALIASES: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {
    (vendor, tuple(alias.split())): tuple(canonical.split())
    for vendor, table in _PRODUCT_ALIAS_TEXT.items()
    for alias, canonical in table.items()
}


def canonical_product(vkey: str, words: tuple[str, ...]) -> tuple[str, ...]:
    """The product tokens a vendor's product is indexed under: renamed products under their current name."""
    return _PRODUCT_ALIASES.get((vkey, words), words)


@functools.lru_cache(maxsize=65536)
def product_key(vendor: str, product: str) -> tuple[str, tuple[str, ...]]:
    """(vendor key, product tokens) of a software item as a registry names it.

    The vendor's name in front of the product is dropped ("Citrix NetScaler ADC" → ``("netscaler", "adc")``),
    and so are packaging words at the end ("IOS XE Software" → ``("ios", "xe")``); renamed products get their
    current name.
    """
    vkey = vendor_key(vendor)
    words = product_tokens(product)
    vwords = product_tokens(vendor)
    for prefix in (vwords, (vkey,)):
        if prefix and words[: len(prefix)] == prefix and len(words) > len(prefix):
            words = words[len(prefix) :]
            break
    while len(words) > 1 and words[-1] in _PRODUCT_TAILS:
        words = words[:-1]
    return vkey, canonical_product(vkey, words)
