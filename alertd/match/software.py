"""Software (contract §3): which registry items a source's product *is*, and which products a text mentions.

Identity only: the index answers which items are the product a source names (its canonical keys,
:func:`alertd.match.normalise.product_keys`), each group of items with the version, edition and platform it
declares; whether that version is affected is judged elsewhere (:mod:`alertd.match.versions`). Items are
grouped by (key, version, edition, target software), so that a CVE naming a product of thousands of items judges
each distinct version once. Product mentions in prose go through a :class:`alertd.match.names.PhraseIndex`
of the items' full names and the alias table's names of the same products. Built once per registry, then read
only.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import NamedTuple

from alertd.domain.codes import Evidence
from alertd.domain.cpe import parse_cpe
from alertd.domain.establishments import Registry, Software
from alertd.domain.values import Product
from alertd.match.names import PhraseIndex, Words
from alertd.match.normalise import ALIASES, Identity, ProductKey, identify, product_keys, tokens, vendor_words
from alertd.match.versions import affected

SoftwareHit = tuple[str, Software, str]  # (establishment id, software item, version shown)
Item = tuple[str, Software]  # (establishment id, software item)
_Group = tuple[str | None, str | None, str | None]  # (version, edition, target software)
_Pair = tuple[str, str]  # (vendor, product) as the registry writes them
_Mention = tuple[ProductKey, _Pair, tuple[str, ...]]  # (key, the items' written name, vendor words needed)


class Candidate(NamedTuple):
    """Registry items that are one product at one version, edition and platform: a CVE judges them once.

    A named tuple rather than a frozen dataclass: a national registry makes hundreds of thousands of them, and
    a tuple is built twice as fast (the index build stays as fast as before candidates existed).
    """

    key: ProductKey
    version: str | None  # the version declared, a CPE's update folded in ("2019 cumulative_update_12")
    edition: str | None  # the CPE's sw_edition (or edition): None when open or not written
    target_sw: str | None  # the CPE's target_sw: None when open or not written
    items: tuple[Item, ...]


class ItemKey(NamedTuple):
    """What a registry item is: its product key, the version it declares, its CPE edition and platform."""

    key: ProductKey
    version: str | None
    edition: str | None
    target_sw: str | None
    identity: Identity


@functools.lru_cache(maxsize=65536)
def item_signature(sw: Software) -> ProductKey | None:
    """A registry item's product as precisely as it is written (:meth:`AliasTable.signature`): from its CPE's
    vendor:product when it has one. Only what a source says of this same signature judges its version."""
    if sw.cpe is not None:
        cpe = parse_cpe(sw.cpe)
        if cpe is not None and cpe.vendor and cpe.product:
            return ALIASES.signature(cpe.vendor.replace("_", " "), cpe.product.replace("_", " "))
    return ALIASES.signature(sw.vendor, sw.product)


def item_key(sw: Software) -> ItemKey | None:
    """A registry item's key: from its CPE's vendor:product when it has a CPE, else from its vendor and product
    names; None when its name names nothing precise. The CPE's ``update`` is part of the version (``2019`` +
    ``cu12``), its ``sw_edition`` (or ``edition``) and ``target_sw`` say which edition and platform it is."""
    if sw.cpe is not None:
        found = _cpe_item(sw.cpe, sw.version)
        if found is not None:
            return found
    identity = identify(sw.vendor, sw.product)
    if identity is None:
        return None
    return ItemKey(identity.key, sw.version, None, None, identity)


@functools.lru_cache(maxsize=65536)
def _cpe_item(cpe_text: str, version: str | None) -> ItemKey | None:
    cpe = parse_cpe(cpe_text)
    if cpe is None or cpe.vendor is None or cpe.product is None:
        return None
    identity = identify(cpe.vendor, cpe.product)
    if identity is None:
        return None
    if cpe.update and (version is None or version == cpe.version):
        version = cpe.full_version
    return ItemKey(identity.key, version, _lower(cpe.sw_edition or cpe.edition), _lower(cpe.target_sw), identity)


def _lower(value: str | None) -> str | None:
    """A CPE edition or platform as compared: NVD's ``aem_cloud_service`` and a registry's ``AEM cloud service``
    are one edition."""
    return " ".join(value.replace("_", " ").casefold().split()) if value is not None else None


class SoftwareIndex:
    """The registry's software items, by product key, then by version, edition and platform."""

    def __init__(self, registry: Registry) -> None:
        groups: dict[ProductKey, dict[_Group | str | None, list[Item]]] = defaultdict(dict)
        identities: dict[ProductKey, Identity] = {}
        # The same few thousand (vendor, product) pairs come back a million times: identify each once.
        by_pair: dict[_Pair, dict[_Group | str | None, list[Item]] | None] = {}
        pairs: dict[_Pair, ProductKey] = {}
        for est in registry.establishments.values():
            est_id = est.id
            for sw in est.software:
                if sw.cpe is None:
                    pair = (sw.vendor, sw.product)
                    if pair in by_pair:
                        target = by_pair[pair]
                    else:
                        identity = identify(*pair)
                        target = None
                        if identity is not None:
                            target = groups[identity.key]
                            identities.setdefault(identity.key, identity)
                            pairs[pair] = identity.key
                        by_pair[pair] = target
                    if target is None:
                        continue
                    group: _Group | str | None = sw.version  # no tuple per item: most items have no CPE
                else:
                    found = _cpe_item(sw.cpe, sw.version) or item_key(sw)
                    if found is None:
                        continue
                    target = groups[found.key]
                    identities.setdefault(found.key, found.identity)
                    pairs.setdefault((sw.vendor, sw.product), found.key)
                    group = (found.version, found.edition, found.target_sw)
                listed = target.get(group)
                if listed is None:
                    target[group] = [(est_id, sw)]
                else:
                    listed.append((est_id, sw))
        # The groups of a key become candidates when a source first names that key: a national registry has
        # hundreds of thousands of groups, and a feed names a few thousand of their products.
        self._groups = dict(groups)
        self._candidates: dict[ProductKey, tuple[Candidate, ...]] = {}
        # A source naming "Windows" names "Windows 10" too: the keys with a release, under their key without.
        self._with_release: dict[ProductKey, list[ProductKey]] = defaultdict(list)
        for key, identity in identities.items():
            if identity.tail:
                self._with_release[(identity.vendor, identity.head)].append(key)
        self._build_mentions(pairs)

    def candidates(self, product: Product) -> list[Candidate]:
        """The groups of registry items that are the product a source names, whatever their version.

        An item is the product when its key is one of the source's keys (:func:`product_keys`), or that key with
        a release number ("Windows" names "Windows 10"). A source restricted to an edition or a platform (a CPE's
        ``sw_edition``, ``target_sw``) names only the items that declare that same edition or platform.
        """
        edition, target_sw = _lower(product.edition), _lower(product.target_sw)
        found: list[Candidate] = []
        for key in product_keys(product.vendor, product.product):
            for each in (key, *self._with_release.get(key, ())):
                for candidate in self._candidates_of(each):
                    if (edition is None or candidate.edition == edition) and (
                        target_sw is None or candidate.target_sw == target_sw
                    ):
                        found.append(candidate)
        return found

    def _candidates_of(self, key: ProductKey) -> tuple[Candidate, ...]:
        """The candidates of one key, built on first use (the index is otherwise read only: building the same
        tuple twice from two threads is harmless)."""
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = tuple(
                Candidate(key, *group, tuple(items))
                if isinstance(group, tuple)
                else Candidate(key, group, None, None, tuple(items))
                for group, items in self._groups.get(key, {}).items()
            )
        return found

    def concerns(self, product: Product, key: ProductKey, edition: str | None, target_sw: str | None) -> bool:
        """Whether what a source says of ``product`` concerns items of this key, edition and platform: by the
        same rules as :meth:`candidates` (so a range NVD gives for another edition never judges an item)."""
        wanted_edition, wanted_target = _lower(product.edition), _lower(product.target_sw)
        if wanted_edition is not None and wanted_edition != edition:
            return False
        if wanted_target is not None and wanted_target != target_sw:
            return False
        keys = product_keys(product.vendor, product.product)
        return key in keys or any(key in self._with_release.get(k, ()) for k in keys)

    def product_hits(self, product: Product) -> list[SoftwareHit]:
        """Items a source's product names, at a version inside its ranges (:func:`alertd.match.versions.affected`);
        an item without a version matches as :attr:`Evidence.VERSION_UNKNOWN`. For callers that do not judge
        the version themselves."""
        hits: list[SoftwareHit] = []
        ranges = product.versions
        for candidate in self.candidates(product):
            shown = affected(candidate.version, ranges)
            if shown is not None:
                hits.extend((est_id, sw, shown) for est_id, sw in candidate.items)
        return hits

    # -- mentions in prose ---------------------------------------------------------------------------------------

    def _build_mentions(self, pairs: dict[_Pair, ProductKey]) -> None:
        """Phrases for the products a text may mention: each item's full name (its vendor named too), and, for an
        item named exactly as its product, the alias table's names of that product (two words at least: "Citrix
        ADC" names NetScaler ADC, "ADC" alone is too loose) and umbrella names over it ("Chromium")."""
        mentions: dict[tuple[str, ...], set[_Mention]] = defaultdict(set)
        exact: dict[ProductKey, list[_Pair]] = defaultdict(list)
        for pair, key in pairs.items():
            vendor, product = pair
            vwords = vendor_words(vendor)
            pwords = tokens(product)
            if not pwords or not vwords:
                continue
            if pwords[: len(vwords)] == vwords and len(pwords) > len(vwords):
                pwords = pwords[len(vwords) :]
            mentions[pwords].add((key, pair, vwords))
            identity = identify(vendor, product)
            if identity is not None and identity.exact and identity.key == key:
                exact[key].append(pair)
        for key, named in exact.items():
            for spelling in ALIASES.spellings.get(key, ()):
                if len(spelling) > 1 or spelling == key[1]:
                    for pair in named:
                        mentions[spelling].add((key, pair, vendor_words(pair[0])))
        for (vkey, name), covered in ALIASES.umbrellas.items():
            for key in covered:
                for pair in exact.get(key, ()):
                    mentions[name].add((key, pair, (vkey,)))
        self.products: PhraseIndex[_Mention] = PhraseIndex(
            (words, mention) for words, found in mentions.items() for mention in sorted(found)
        )
        # A phrase inside a longer name of the same vendor ("ios" in "ios xr") is not a mention of its product.
        known: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for words, found in mentions.items():
            for (vkey, _), _, _ in found:
                known[vkey].add(words)
        for vkey, phrases in ALIASES.phrases.items():
            known[vkey] |= phrases
        self._longer: dict[tuple[str, tuple[str, ...]], list[tuple[tuple[str, ...], int]]] = {}
        for words, found in mentions.items():
            for vkey in {key[0] for key, _, _ in found}:
                longer = [
                    (phrase, offset)
                    for phrase in known[vkey]
                    if len(phrase) > len(words)
                    for offset in range(len(phrase) - len(words) + 1)
                    if phrase[offset : offset + len(words)] == words
                ]
                if longer:
                    self._longer[(vkey, words)] = longer

    def mentioned(self, words: Words) -> list[SoftwareHit]:
        """Software items whose product a text mentions, each once, with the version it declares.

        A mention is the product's full name with its vendor named too (in the phrase or elsewhere in the text),
        at a place where it is not part of a longer name of another product ("Cisco IOS XR" mentions no IOS).
        """
        found = self.products.scan(words)
        if not found:
            return []
        present = words.tokens()
        text: list[str] | None = None
        hits: list[SoftwareHit] = []
        for phrase, values in found.items():
            for key, pair, needs in values:
                if not all(w in present for w in needs):
                    continue
                longer = self._longer.get((key[0], phrase))
                if longer:
                    text = text if text is not None else _token_list(words)
                    if not _stands_alone(text, phrase, longer):
                        continue
                for candidate in self._candidates_of(key):
                    hits.extend(
                        (est_id, sw, candidate.version or Evidence.VERSION_UNKNOWN)
                        for est_id, sw in candidate.items
                        if (sw.vendor, sw.product) == pair
                    )
        return list(dict.fromkeys(hits))


def _token_list(words: Words) -> list[str]:
    """The text's tokens in order, as :func:`tokens` makes them."""
    special = words.special
    return [token for word in words.words for token in special.get(word, (word,))]


def _stands_alone(text: list[str], phrase: tuple[str, ...], longer: list[tuple[tuple[str, ...], int]]) -> bool:
    """Whether ``phrase`` occurs somewhere in ``text`` outside every longer name that contains it."""
    size = len(phrase)
    for start in range(len(text) - size + 1):
        if tuple(text[start : start + size]) != phrase:
            continue
        if not any(
            start >= offset and tuple(text[start - offset : start - offset + len(name)]) == name
            for name, offset in longer
        ):
            return True
    return False


__all__ = ["Candidate", "ItemKey", "SoftwareHit", "SoftwareIndex", "item_key"]
