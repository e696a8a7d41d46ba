"""Software (contract §3): which registry items a catalogue product names at an affected version, and which
products a text mentions.

The registry's items are filed in a dict per vendor key (:func:`alertd.match.normalise.vendor_key`), under
their product words; a catalogue product is probed with each run of its own product words (aliases applied),
then the version ranges are checked (:mod:`alertd.match.versions`). Items are grouped by version, so that a CVE
affecting thousands of items decides each distinct version once. Product mentions in prose go through a
:class:`alertd.match.names.PhraseIndex`. Built once per registry, then read only.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict

from alertd.domain.codes import Evidence
from alertd.domain.cpe import parse_cpe
from alertd.domain.establishments import Registry, Software
from alertd.domain.values import Product
from alertd.match.names import PhraseIndex, Words
from alertd.match.normalise import canonical_product, product_key, product_tokens, tokens, vendor_key, vendor_words
from alertd.match.versions import affected

SoftwareHit = tuple[str, Software, str]  # (establishment id, software item, version shown)
_VersionKey = str | None | tuple[str, str | None]  # a registry item's version, or its (CPE, version)
_Mention = tuple[str, tuple[str, ...], tuple[str, ...]]  # (vendor key, product key, vendor words to find too)

_MAX_RUN = 8  # the longest run of catalogue product words probed
_EDITION_WORDS = frozenset(
    {"server", "enterprise", "professional", "pro", "standard", "datacenter", "edition", "lts", "ltsc", "esr", "x64"}
)


class SoftwareIndex:
    """The registry's software items, by vendor key, product words and version."""

    def __init__(self, registry: Registry) -> None:
        # vendor key → product tokens → items; and vendor key → a product's leading words → product tokens,
        # for catalogue names that are a registry product without its edition ("Exchange Server" → "... 2019").
        software: dict[str, dict[tuple[str, ...], dict[_VersionKey, list[tuple[str, Software]]]]] = defaultdict(dict)
        # The same few thousand (vendor, product) pairs come back a million times: normalise each once. Items
        # are grouped by version, so that a CVE decides each version once, not each of its thousands of items.
        lists: dict[tuple[str, str], dict[_VersionKey, list[tuple[str, Software]]] | None] = {}
        for est in registry.establishments.values():
            est_id = est.id
            for sw in est.software:
                pair = (sw.vendor, sw.product)
                if pair in lists:
                    target = lists[pair]
                else:
                    vkey, pkey = product_key(sw.vendor, sw.product)
                    target = software[vkey].setdefault(pkey, {}) if pkey else None
                    lists[pair] = target
                if target is not None:
                    version_key = sw.version if sw.cpe is None else (sw.cpe, sw.version)
                    group = target.get(version_key)
                    if group is None:
                        target[version_key] = [(est_id, sw)]
                    else:
                        group.append((est_id, sw))
        phrases = [pair for pair, target in lists.items() if target is not None]
        self._software = dict(software)
        self._editions: dict[str, dict[tuple[str, ...], list[tuple[str, ...]]]] = defaultdict(lambda: defaultdict(list))
        for vkey, table in self._software.items():
            for pkey in table:
                for cut in range(1, len(pkey)):
                    if all(_is_edition(word) for word in pkey[cut:]):
                        self._editions[vkey][pkey[:cut]].append(pkey)
        # Product mentions in prose: "Fortinet FortiOS", or "FortiOS" with "Fortinet" elsewhere in the text.
        mentions: list[tuple[tuple[str, ...], _Mention]] = []
        for vendor, product in phrases:
            vkey, pkey = product_key(vendor, product)
            vwords = vendor_words(vendor)
            pwords = tokens(product)
            if not pwords or not vwords:
                continue
            if pwords[: len(vwords)] == vwords:
                mentions.append((pwords, (vkey, pkey, ())))
            else:
                mentions.append((vwords + pwords, (vkey, pkey, ())))
                mentions.append((pwords, (vkey, pkey, vwords)))
        self.products: PhraseIndex[_Mention] = PhraseIndex(mentions)

    def product_hits(self, product: Product) -> list[SoftwareHit]:
        """Software items a catalogue product names, at an affected version.

        The vendors must agree (:func:`alertd.match.normalise.vendor_key`); the registry's product must be a run
        of the catalogue's product words ("NetScaler ADC" in "NetScaler ADC and NetScaler Gateway"), or the
        catalogue's product the registry's without an edition ("Exchange Server" for "Exchange Server 2019").
        A version outside every range of the product does not match; an item without a version does, as
        :attr:`Evidence.VERSION_UNKNOWN`.
        """
        vkey = vendor_key(product.vendor)
        table = self._software.get(vkey)
        if not table:
            return []
        editions = self._editions.get(vkey, {})
        words = product_tokens(product.product)
        keys: dict[tuple[str, ...], None] = {}
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + _MAX_RUN) + 1):
                run = canonical_product(vkey, words[i:j])
                if run in table:
                    keys[run] = None
                for longer in editions.get(run, ()):
                    keys[longer] = None
        hits: list[SoftwareHit] = []
        ranges = product.versions
        for key in keys:
            for version_key, items in table[key].items():
                version = version_key if not isinstance(version_key, tuple) else _cpe_version(*version_key)
                shown = affected(version, ranges)
                if shown is not None:
                    hits.extend((est_id, sw, shown) for est_id, sw in items)
        return hits

    def mentioned(self, words: Words) -> list[SoftwareHit]:
        """Software items whose product a text mentions (its vendor named too), each once, with the version it
        declares."""
        products: list[SoftwareHit] = []
        found = self.products.scan(words)
        if found:
            present = words.tokens() if any(needs for values in found.values() for _, _, needs in values) else set()
            for values in found.values():
                for vkey, pkey, needs in values:
                    if all(w in present for w in needs):
                        for items in self._software[vkey][pkey].values():
                            products.extend(
                                (est_id, sw, _version_of(sw) or Evidence.VERSION_UNKNOWN) for est_id, sw in items
                            )
        return list(dict.fromkeys(products))


def _is_edition(word: str) -> bool:
    """Words that name an edition or a release of a product rather than another product."""
    return word.isdigit() or word in _EDITION_WORDS or bool(re.fullmatch(r"[a-z]?\d+[a-z]?", word))


def _version_of(sw: Software) -> str | None:
    """The version a registry item declares; a CPE's update field is part of it (``2019`` + ``cu12``)."""
    return _cpe_version(sw.cpe, sw.version) if sw.cpe else sw.version


@functools.lru_cache(maxsize=65536)
def _cpe_version(cpe_text: str, version: str | None) -> str | None:
    cpe = parse_cpe(cpe_text)
    if cpe is not None and cpe.update and (version is None or version == cpe.version):
        return cpe.full_version
    return version


__all__ = ["SoftwareHit", "SoftwareIndex"]
