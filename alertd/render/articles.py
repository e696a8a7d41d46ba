"""An establishment's name with its article, as a sentence of one language takes it ("le Centre hospitalier X").

French puts an article before a name that starts with a common noun ("le Centre hospitalier de Dax", "la Clinique
Pasteur", "l'Hôpital Foch", "les Hospices civils de Lyon"), and contracts it after "de" and "à" ("du", "au",
"des", "aux"). Which article is read from the name's head noun (its first word or words), a table the catalog
holds (context ``article-heads``), with the forms of each article: a third language is one ``.po``,
and English, which puts no article before a name, lists no head noun.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

# The classes of article a name can take; the catalog's "article" context has one message per class, whose
# msgstr gives its three forms ("le {name} | du {name} | au {name}").
CLASSES = ("masculine", "feminine", "elided", "plural", "none", "none:elided")
HEAD_CLASSES = ("masculine", "feminine", "plural")  # what a head noun can be; "elided" follows from its sound
_MAX_HEAD_WORDS = 3  # the longest head noun of a table ("Centre hospitalier universitaire")
_APOSTROPHES = ("'", "\u2019")


@dataclass(frozen=True, slots=True)
class Named:
    """An establishment's name as a sentence of one language takes it: alone, with its article, after "of" and
    after "to" (French: "le Centre hospitalier X", "du Centre hospitalier X", "au Centre hospitalier X")."""

    name: str
    the: str
    of: str
    to: str


def fold(word: str) -> str:
    """A word as the head-noun table compares it: lower case, without accents or abbreviation dots."""
    decomposed = unicodedata.normalize("NFD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace(".", "").strip(",;:()")


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True, slots=True)
class Articles:
    """A language's articles: its head-noun table and the three forms of each class of article."""

    heads: Mapping[str, str]  # a folded head noun (one or more words) → its class
    forms: Mapping[str, tuple[str, str, str]]  # a class → its (the, of, to) patterns, each with "{name}"
    elide_before: str  # the folded letters before which an article elides ("le" + "Hôpital" → "l'Hôpital")
    aspirated: frozenset[str]  # folded words whose "h" is aspirated: no elision ("la Halte")
    written: Mapping[str, str]  # an article a name may start with ("Le", "L'") → its class

    @classmethod
    def from_messages(cls, messages: Mapping[str, str]) -> Articles:
        """The articles from the catalog's messages: ``heads:CLASS`` lists (comma-separated), ``forms:CLASS``
        patterns (``the | of | to``), ``elide-before`` letters, ``aspirated-h`` words, ``written`` articles
        (``le = masculine, l' = elided``). A missing or empty message means none."""
        heads = {
            " ".join(fold(w) for w in head.split()): klass
            for klass in HEAD_CLASSES
            for head in _split_list(messages.get(f"heads:{klass}", ""))
        }
        forms: dict[str, tuple[str, str, str]] = {}
        for klass in CLASSES:
            parts = [p.strip() for p in messages.get(f"forms:{klass}", "{name} | {name} | {name}").split("|")]
            if len(parts) != 3 or any("{name}" not in p for p in parts):
                raise ValueError(f"article forms of {klass!r} are not 'the | of | to', each with {{name}}")
            forms[klass] = (parts[0], parts[1], parts[2])
        written = {}
        for pair in _split_list(messages.get("written", "")):
            article, _, klass = pair.partition("=")
            written[fold(article.strip()).replace("\u2019", "'")] = klass.strip()
        return cls(
            heads=heads,
            forms=forms,
            elide_before="".join(fold(c) for c in messages.get("elide-before", "").split()),
            aspirated=frozenset(fold(w) for w in _split_list(messages.get("aspirated-h", ""))),
            written=written,
        )

    def _elides(self, word: str) -> bool:
        folded = fold(word)
        return bool(folded) and folded[0] in self.elide_before and fold(word.split("-")[0]) not in self.aspirated

    def _written_article(self, name: str) -> tuple[str, str] | None:
        """A name that starts with its own article ("Les Hospices…", "L'Hôpital…"): its class and the rest."""
        first, _, rest = name.partition(" ")
        for mark in _APOSTROPHES:
            article, apostrophe, after = first.partition(mark)
            if apostrophe and after and self.written.get(fold(article) + "'") is not None:
                return self.written[fold(article) + "'"], (after + " " + rest).strip()
        klass = self.written.get(fold(first))
        return (klass, rest) if klass is not None and rest else None

    def _head_class(self, words: list[str]) -> str | None:
        for size in range(min(_MAX_HEAD_WORDS, len(words)), 0, -1):
            klass = self.heads.get(" ".join(fold(w) for w in words[:size]))
            if klass is not None:
                return klass
        # A hyphenated head ("Hôtel-Dieu" is listed whole; "Centre-Hospitalier" by its first part).
        return self.heads.get(fold(words[0].split("-")[0])) if "-" in words[0] else None

    def named(self, name: str) -> Named:
        """``name`` with its article: from the article it starts with, else from its head noun, else none."""
        words = name.split()
        if not words:
            return Named(name, name, name, name)
        body = name
        own = self._written_article(name)
        if own is not None:
            klass, body = own
        else:
            head = self._head_class(words)
            if head is None:
                klass = "none:elided" if self._elides(words[0]) else "none"
            elif head != "plural" and self._elides(words[0]):
                klass = "elided"
            else:
                klass = head
        the, of, to = (pattern.replace("{name}", body) for pattern in self.forms[klass])
        return Named(name, the, of, to)
