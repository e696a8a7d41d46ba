"""Names in free text: the phrase index that finds many phrases in one pass, and which registry names are too
short or too generic to look for at all.

:class:`PhraseIndex` finds many phrases in one pass without a per-word Python loop: each phrase is filed under
its *anchor*, its rarest word, and a text is first reduced to the set of its words (C-speed ``re`` and ``set``
operations); only where an anchor occurs is the phrase around it checked. A text in which no anchor occurs —
most of them — costs a lower-casing, a tokenisation and a set intersection. Product mentions use it on a text's
words as they are; establishment names on their normal form (:mod:`alertd.match.name_forms`), judged by
:mod:`alertd.match.name_evidence`.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import filterfalse
from typing import Generic, TypeVar

from alertd.domain.codes import NameProblem, UnsafeName
from alertd.domain.establishments import Establishment, Registry
from alertd.match.name_forms import GENERIC_WORDS as GENERIC_WORDS
from alertd.match.name_forms import SEPARATORS, name_keys_of, own_names
from alertd.match.normalise import EXPANSIONS, tokens

T = TypeVar("T")
Key = tuple[str, ...]

# Words so common in advisories and leak posts that they make poor anchors, whatever their rarity in names.
_COMMON_TEXT = """
    pour par dans est qui que avec son sa ses sont pas plus nous vous ont cette ce ces il elle ils leur leurs
    ou mais aussi tout tous toutes tres comme apres avant entre sans sous chez
    to is was were be been by with on from this that these those it its as an or not are has have had all
    france french paris data donnees fichiers files leak leaked victim victime group groupe attack attaque
    ransomware rancongiciel
"""
_COMMON_WORDS = GENERIC_WORDS | frozenset(_COMMON_TEXT.split())

# Every ASCII character but letters and digits separates words, and so do the non-ASCII ones of SEPARATORS: each
# is replaced by a space (one character for one) and the text split on spaces, which makes the same words as a
# regular expression finding them, in less than half the time (the words of every text are cut, names or not).
_ASCII_SEPARATORS = tuple(chr(i) for i in range(128) if not chr(i).isalnum() and chr(i) != " ")
_ALL_SEPARATORS = _ASCII_SEPARATORS + tuple(SEPARATORS)


@functools.lru_cache(maxsize=65536)
def _fold_word(word: str) -> Key:
    return tokens(word)


@dataclass(frozen=True, slots=True)
class Words:
    """A text cut into raw words (lower-cased, accents kept), their set, and the words that fold into other
    tokens (``st`` → ``saint``, ``hôpital`` → ``hopital``, ``d’arles`` → ``d``, ``arles``).

    ``clean`` is the text lower-cased with every character that separates words made a space: a raw word is
    found in it between spaces, at the text's own positions when lower-casing keeps its length."""

    clean: str
    words: list[str]
    vocab: set[str]
    special: dict[str, Key]

    def tokens(self) -> set[str]:
        """The set of the text's normalised tokens, as :func:`alertd.match.normalise.tokens` makes them."""
        return (self.vocab - self.special.keys()).union(*self.special.values())


def words_of(text: str) -> Words:
    """Cut ``text`` into words once, with C-speed operations only (and a fold per distinct non-ASCII word)."""
    clean = text.lower()
    plain = clean.isascii()
    for ch in _ASCII_SEPARATORS if plain else _ALL_SEPARATORS:
        if ch in clean:
            clean = clean.replace(ch, " ")
    words = list(filter(None, clean.split(" ")))
    vocab = set(words)
    special: dict[str, Key] = {w: EXPANSIONS[w] for w in EXPANSIONS if w in vocab}
    if not plain:
        odd = list(filterfalse(str.isascii, vocab))
        special.update(zip(odd, map(_fold_word, odd), strict=True))
    return Words(clean, words, vocab, special)


def _rarity(word: str, count: int) -> tuple[bool, int, int]:
    """How poor an anchor a word is: common words last, then the most frequent, then the shortest."""
    return (word in _COMMON_WORDS or word.isdigit(), count, -len(word))


class PhraseIndex(Generic[T]):
    """Phrases (token tuples, as :func:`tokens` makes them) and their values, found in text on word boundaries."""

    def __init__(self, phrases: Iterable[tuple[Sequence[str], T]]) -> None:
        table: dict[Key, list[T]] = defaultdict(list)
        for key, value in phrases:
            if key:
                table[tuple(key)].append(value)
        frequency: Counter[str] = Counter()
        for key in table:
            frequency.update(set(key))
        self._table = {key: tuple(values) for key, values in table.items()}
        # Each word's rarity once (common words last, then the most frequent, then the shortest), not per phrase;
        # kept for an edit (the count of phrases holding each word is its middle term).
        rarity = self._rarity = {word: _rarity(word, count) for word, count in frequency.items()}
        probes: dict[str, dict[tuple[int, int], dict[Key, tuple[T, ...]]]] = defaultdict(dict)
        for key, values in self._table.items():
            anchor = min(key, key=rarity.__getitem__)
            probes[anchor].setdefault((key.index(anchor), len(key)), {})[key] = values
        self._probes: dict[str, tuple[tuple[int, int, dict[Key, tuple[T, ...]]], ...]] = {
            anchor: tuple((offset, length, keys) for (offset, length), keys in by_shape.items())
            for anchor, by_shape in probes.items()
        }
        self._keys = {anchor: tuple(k for ks in by_shape.values() for k in ks) for anchor, by_shape in probes.items()}
        self._anchors = frozenset(self._probes)
        self._longest = max((len(k) for k in table), default=0)
        self.size = len(table)

    def items(self) -> Iterable[tuple[Key, tuple[T, ...]]]:
        """Every phrase with its values."""
        return self._table.items()

    def values(self, key: Key) -> tuple[T, ...]:
        """The values of a phrase (none when it is not in the index)."""
        return self._table.get(key, ())

    def edited(self, changes: Mapping[Key, tuple[T, ...]]) -> PhraseIndex[T]:
        """A copy of this index with the values of some phrases replaced (``()`` removes a phrase), as one built
        from scratch from the phrases so changed; this one is left as it was (it may serve meanwhile).

        A phrase's anchor depends on how many phrases hold each of its words: the phrases that hold a word a
        phrase added or removed counted are anchored again (a pass over the phrases' words in C loops), the
        others keep their anchor. The cost follows the edit, not the index, but for that pass.
        """
        table = dict(self._table)
        count: Counter[str] = Counter()
        for key, values in changes.items():
            had = key in table
            if values:
                table[key] = values
                if not had:
                    count.update(set(key))
            elif had:
                del table[key]
                count.subtract(set(key))
        old_rarity = self._rarity
        rarity = dict(old_rarity)
        counted = {word for word, n in count.items() if n}
        for word in counted:
            held = (old_rarity[word][1] if word in old_rarity else 0) + count[word]
            if held > 0:
                rarity[word] = _rarity(word, held)
            else:
                del rarity[word]
        # The phrases to file again: the changed ones, and those whose anchor may move with a count.
        moved = set(changes)
        if counted:
            moved.update(k for k in table if not counted.isdisjoint(k))
        probes = dict(self._probes)
        keys_of = dict(self._keys)
        touched: dict[str, dict[Key, tuple[T, ...]]] = {}

        def filed_under(anchor: str) -> dict[Key, tuple[T, ...]]:
            filed = touched.get(anchor)
            if filed is None:
                filed = touched[anchor] = {k: self._table[k] for k in self._keys.get(anchor, ())}
            return filed

        for key in moved:
            before = min(key, key=old_rarity.__getitem__) if key in self._table else None
            now = table.get(key)
            after = min(key, key=rarity.__getitem__) if now is not None else None
            if before == after and key not in changes:
                continue
            if before is not None:
                filed_under(before).pop(key, None)
            if after is not None and now is not None:
                filed_under(after)[key] = now
        for anchor, filed in touched.items():
            if not filed:
                probes.pop(anchor, None)
                keys_of.pop(anchor, None)
                continue
            by_shape: dict[tuple[int, int], dict[Key, tuple[T, ...]]] = {}
            for key, values in filed.items():
                by_shape.setdefault((key.index(anchor), len(key)), {})[key] = values
            probes[anchor] = tuple((offset, length, ks) for (offset, length), ks in by_shape.items())
            keys_of[anchor] = tuple(filed)
        twin: PhraseIndex[T] = object.__new__(PhraseIndex)
        twin._table, twin._rarity = table, rarity
        twin._probes, twin._keys = probes, keys_of
        twin._anchors = self._anchors if probes.keys() == self._probes.keys() else frozenset(probes)
        twin._longest = max(map(len, table), default=0)
        twin.size = len(table)
        return twin

    def __len__(self) -> int:
        return self.size

    def scan(self, text: str | Words) -> dict[Key, tuple[T, ...]]:
        """The phrases that ``text`` contains as whole words, in the order of their first occurrence.

        ``text`` may be given as :func:`words_of` it, to scan one text with several indexes.
        """
        if not self._anchors:
            return {}
        prepared = text if isinstance(text, Words) else words_of(text)
        words, vocab, special = prepared.words, prepared.vocab, prepared.special
        anchors = self._anchors
        candidates = vocab.intersection(anchors)
        for word, parts in special.items():
            candidates.discard(word)
            if not anchors.isdisjoint(parts):
                candidates.add(word)
        if not candidates:
            return {}
        if len(candidates) <= 4:
            positions: list[int] = []
            for word in candidates:
                i = -1
                while True:
                    try:
                        i = words.index(word, i + 1)
                    except ValueError:
                        break
                    positions.append(i)
            positions.sort()
        else:
            positions = [i for i, w in enumerate(words) if w in candidates]
        found: dict[Key, tuple[T, ...]] = {}
        for p in positions:
            self._check(words, p, special, found)
        return found

    def within(self, words: AbstractSet[str], more: AbstractSet[str] = frozenset()) -> list[tuple[str, Key]]:
        """The phrases all of whose words are in ``words`` or ``more`` (a text's sets of words), each with its
        anchor: the only ones the text can hold. Two sets, not their union: a text has hundreds of words, and
        the phrases filed under those of its words that are anchors are a few."""
        anchors = self._anchors.intersection(words)
        if more:
            anchors |= self._anchors.intersection(more)
        keys_of = self._keys
        out: list[tuple[str, Key]] = []
        for anchor in anchors:
            for key in keys_of[anchor]:
                for word in key:
                    if word not in words and word not in more:
                        break
                else:
                    out.append((anchor, key))
        return out

    def occurrences(self, words: Sequence[str]) -> list[tuple[int, int, Key, tuple[T, ...]]]:
        """Every place a phrase occurs in ``words``, a list already in normal form: ``(start, end, phrase,
        values)``, in the order of the text."""
        probes, found = self._probes, []
        for p, word in enumerate(words):
            for offset, length, table in probes.get(word, ()):
                start = p - offset
                if start >= 0:
                    key = tuple(words[start : start + length])
                    values = table.get(key)
                    if values is not None:
                        found.append((start, start + length, key, values))
        found.sort(key=lambda hit: (hit[0], hit[1]))
        return found

    def _check(self, words: list[str], p: int, special: Mapping[str, Key], found: dict[Key, tuple[T, ...]]) -> None:
        """Check the phrases anchored on the word at ``p`` against the words around it."""
        reach = self._longest - 1
        if not special or special.keys().isdisjoint(words[max(p - reach, 0) : p + reach + 1]):
            # Plain words around: the phrases are slices of the text's own words.
            for offset, length, table in self._probes[words[p]]:
                start = p - offset
                if start >= 0:
                    key = tuple(words[start : start + length])
                    values = table.get(key)
                    if values is not None and key not in found:
                        found[key] = values
            return
        left: list[str] = []
        i = p - 1
        while i >= 0 and len(left) < reach:
            parts = special.get(words[i])
            if parts is None:
                left.append(words[i])
            else:
                left.extend(reversed(parts))
            i -= 1
        left.reverse()
        middle = special.get(words[p], (words[p],))
        right: list[str] = []
        i = p + 1
        while i < len(words) and len(right) < reach:
            right.extend(special.get(words[i], (words[i],)))
            i += 1
        window = left + list(middle) + right
        for k, anchor in enumerate(middle):
            for offset, length, table in self._probes.get(anchor, ()):
                start = len(left) + k - offset
                if start < 0 or start + length > len(window):
                    continue
                key = tuple(window[start : start + length])
                values = table.get(key)
                if values is not None and key not in found:
                    found[key] = values


# -- which names are safe to look for --------------------------------------------------------------------------


def _why_unsafe(key: Key) -> tuple[NameProblem, tuple[str, ...]] | None:
    """Why a name's words are unsafe to look for at all, with the words concerned, or None when it is looked for
    (a weak one only with context: :func:`alertd.match.name_forms.is_weak`)."""
    if not key:
        return NameProblem.NO_LETTERS, ()
    words = [w for w in key if w not in GENERIC_WORDS]
    if not words:
        # Before the short-word check: "HOPITAL DE JOUR" folds to the one word "hj", yet is generic, not short.
        return NameProblem.GENERIC_ONLY, tuple(dict.fromkeys(key))
    if len(key) == 1 and len(key[0]) < 3:
        return NameProblem.SHORT_WORD, (key[0],)
    if sum(len(w) for w in words if not w.isdigit()) < 3:
        return NameProblem.ONE_SHORT_DISTINCTIVE, tuple(words)
    return None


def name_keys(
    registry: Registry, known: Mapping[str, Key] | None = None
) -> tuple[list[tuple[str, str, Key]], list[UnsafeName]]:
    """Split every name, alias and FINESS long name of the open establishments into those looked for, with their
    words in normal form (:func:`alertd.match.name_forms.name_key`), and those never looked for, each with the
    code saying why: ``(looked for: [(id, name, key)], unsafe: [UnsafeName])``.

    Only names without letters, made of generic words, or whose distinctive words are too short are unsafe. A
    one-word or weak name is looked for, and counts only with a category word or the commune next to it; a name
    several establishments share is looked for, and counts for the one whose commune the text names
    (:mod:`alertd.match.name_evidence`). ``known``: the keys of names met before (a reload's previous index), not
    worked out again.
    """
    named: list[tuple[str, str]] = []
    for est in registry.establishments.values():
        finess = est.finess
        if finess is not None and finess.closed:
            continue
        if not est.aliases and (finess is None or not finess.long_name):
            named.append((est.id, est.name))
        else:
            named += [(est.id, name) for _, name in own_names(est)]
    return _split(named, known)


def _split(
    named: list[tuple[str, str]], known: Mapping[str, Key] | None
) -> tuple[list[tuple[str, str, Key]], list[UnsafeName]]:
    """:func:`name_keys` of these names of establishments, ``(id, name)``."""
    safe: list[tuple[str, str, Key]] = []
    unsafe: list[UnsafeName] = []
    names = [name for _, name in named]
    if known:
        missing = list(dict.fromkeys(name for name in names if name not in known))
        more = dict(zip(missing, name_keys_of(missing), strict=True))
        keys = [known[name] if name in known else more[name] for name in names]
    else:
        keys = name_keys_of(names)
    for (est_id, name), key in zip(named, keys, strict=True):
        why = None if known and name in known else _why_unsafe(key)  # a name looked for before still is
        if why is not None:
            unsafe.append(UnsafeName(est_id, name, why[0], words=why[1]))
        else:
            safe.append((est_id, name, key))
    return safe, unsafe


def est_name_keys(
    est: Establishment, known: Mapping[str, Key] | None = None
) -> tuple[list[tuple[str, str, Key]], list[UnsafeName]]:
    """:func:`name_keys` of one establishment (a reload's edited ones): the same split, in the same order."""
    if est.finess is not None and est.finess.closed:
        return [], []
    return _split([(est.id, name) for _, name in own_names(est)], known)


def unsafe_names(registry: Registry) -> list[UnsafeName]:
    """Names and aliases too short or too generic to look for at all, each with why (a code).

    The match index never looks for them; ``alertd check`` reports them so the operator can fix the registry.
    """
    return name_keys(registry)[1]
