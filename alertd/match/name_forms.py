"""Establishment names as people write them: the words both a registry name and a text reduce to, and the forms
of each establishment's name that the matcher looks for (:mod:`alertd.match.name_evidence` decides on them).

Both sides reduce to one normal form: accents, case and punctuation folded (:func:`alertd.match.normalise.tokens`,
``St``/``Ste`` spelled out), FINESS abbreviations and their long forms to one word ("Centre hospitalier" and
"CH" are ``ch``; "CTRE", "Clin.", "HDJ" are ``centre``, ``clinique``, ``hj``), dotted initials joined ("C.H.U."
is ``chu``), and articles and prepositions (de, d', du, la, à…) left out of the words compared but kept in the
text, where they introduce a place ("… de Beyrouth").

Besides its registered name, aliases and FINESS long name, a hospital is looked for by its category and commune
("Centre hospitalier d'Arles", "CH Arles", "Hôpital d'Arles", "CHU de Rennes", "Rennes University Hospital") and
by its category and its own name's words ("Hôpital Simone Veil" for CH DE CANNES SIMONE VEIL): see
:data:`HOSPITAL_CATEGORIES` and :func:`registry_forms` for which categories and which establishment gets a form
several could claim.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import NamedTuple

from alertd.domain.codes import NameForm
from alertd.domain.establishments import Establishment, Registry
from alertd.match.normalise import EXPANSIONS, fold, tokens

Key = tuple[str, ...]

# Words that name what an establishment is, not which one it is: a name made only of them matches everywhere.
_GENERIC_TEXT = """
    hopital hopitaux hospital hospitals hospitalier hospitaliere hospitaliers hospitalieres hospitalo clinique
    cliniques clinic clinics polyclinique centre centres center centers chu chr chru ch chi chg chs cht chic chd
    chsf ghu ght gh groupe groupement group universitaire universitaires university regional regionale
    departemental departementale intercommunal intercommunale general generale pharmacie pharmacies pharmacy
    laboratoire laboratoires laboratory laboratories lab labo labos biologie medicale medicales medical medicaux
    analyses sante health healthcare care ehpad ehpa residence maison retraite soins suite readaptation
    reeducation ssr usld had psychiatrique psychiatrie specialise specialisee institut institute fondation
    foundation association mutualiste prive privee public publique cabinet imagerie radiologie dialyse nursing
    home rehabilitation hospice dispensaire sanitaire medico social etablissement site sas sa sarl selarl gcs
    le la les l de des du d et en au aux a un une sur the of and for at in saint sainte
    hl hj epsm msp mas fam ime esat saad ssiad sessad cmp cmpp cattp chrs cds lbm ifsi gie usmp csapa itep camsp
    cpef pmi savs samsah eeap iem crf scm selas selasu snc eurl sci scp sel selafa spfpl
"""
GENERIC_WORDS = frozenset(_GENERIC_TEXT.split())
# Words that are no establishment's own either, though names are made of them: saints and cardinal points
# ("SAINT LOUIS", "NOTRE DAME", "CH SUD FRANCILIEN" has one distinctive word, francilien).
_WEAK_TEXT = "notre dame nord sud est ouest grand petit vieux nouveau"
_WEAK_WORDS = GENERIC_WORDS | frozenset(_WEAK_TEXT.split())
# Words that say a health or care establishment is meant: next to a weak name, or near an acronym, they are
# the context that makes it a mention of one.
_CATEGORY_WORDS_TEXT = """
    hopital hospital ch chu chr chru chi chs chd chic cht gh ghu hl hj clinique clinic polyclinique ehpad ehpa
    pharmacie pharmacy laboratoire sante health medical medicale epsm msp ssr usld had maternite psychiatrique
    """
CATEGORY_WORDS = frozenset(_CATEGORY_WORDS_TEXT.split())
# The category words that fit each kind of FINESS establishment: next to a weak name only a word of its own kind
# makes it a mention ("Saint Louis Hospital" is not the pharmacy SAINT LOUIS, "Hôpital Necker" not the reception
# centre NECKER, "Mairie de Pontpoint" not the EHPAD PONTPOINT).
_HOSPITAL_WORDS_TEXT = """
    hopital hospital ch chu chr chru chi chs chd chic cht gh ghu hl hj clinique clinic polyclinique epsm maternite
    psychiatrique ssr usld had
    """
_HOSPITAL_WORDS = frozenset(_HOSPITAL_WORDS_TEXT.split())
# Hospitals, clinics, SSR, USLD, HAD, CLCC, army and psychiatric hospitals, GCS-établissements de santé.
_HOSPITAL_KINDS = "101 106 109 114 115 122 127 128 129 131 161 292 355 362 365 697 698"
_KIND_WORDS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_HOSPITAL_KINDS.split(), _HOSPITAL_WORDS),
    **dict.fromkeys(("620", "627", "628", "629"), frozenset({"pharmacie", "pharmacy"})),  # officines
    **dict.fromkeys(("202", "500", "501", "502"), frozenset({"ehpad", "ehpa"})),  # homes for the elderly
    **dict.fromkeys(("610", "611", "612"), frozenset({"laboratoire"})),  # medical laboratories
    **dict.fromkeys(("124", "347", "603", "636"), frozenset({"sante", "health", "medical", "medicale", "msp"})),
}
# Articles and prepositions: not required to match, kept in the text to see what they introduce.
_STOP_WORDS_TEXT = "de d du des la le les l a au aux en et the of"
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# One word for what FINESS abbreviates, whichever way a text writes it.
_WORD_CANON = {
    "clin": "clinique",
    "cliniques": "clinique",
    "ctre": "centre",
    "ctr": "centre",
    "centres": "centre",
    "hop": "hopital",
    "hopitaux": "hopital",
    "hosp": "hospitalier",
    "hospit": "hospitalier",
    "hospitaliere": "hospitalier",
    "hospitaliers": "hospitalier",
    "hospitalieres": "hospitalier",
    "polyclin": "polyclinique",
    "hdj": "hj",
    "gpe": "groupe",
    "grpe": "groupe",
    "regionale": "regional",
    "intercommunale": "intercommunal",
    "specialisee": "specialise",
    "departementale": "departemental",
    "universitaires": "universitaire",
}
# Runs of words (articles left out) that FINESS writes as one abbreviation; the longest run wins.
_PHRASES: dict[Key, str] = {
    ("centre", "hospitalier", "regional", "universitaire"): "chru",
    ("centre", "hospitalier", "universitaire", "regional"): "chru",
    ("centre", "hospitalier", "universitaire"): "chu",
    ("centre", "hospitalier", "regional"): "chr",
    ("centre", "hospitalier", "intercommunal"): "chi",
    ("centre", "hospitalier", "specialise"): "chs",
    ("centre", "hospitalier", "departemental"): "chd",
    ("centre", "hospitalier"): "ch",
    ("groupe", "hospitalier"): "gh",
    ("hopital", "local"): "hl",
    ("hopital", "jour"): "hj",
    ("hopital", "universitaire"): "chu",
    ("university", "hospital"): "chu",
    ("etablissement", "public", "sante", "mentale"): "epsm",
}
_PHRASE_LONGEST = max(len(k) for k in _PHRASES)
_PHRASE_HEADS = frozenset(k[0] for k in _PHRASES)
# The words a name's normal form changes: a name holding none of them is its folded words.
_SPECIAL = STOP_WORDS | _WORD_CANON.keys() | _PHRASE_HEADS | EXPANSIONS.keys()
# What a text may spell otherwise than a name's words, for a quick look at which names it can hold: the other
# spellings of each word FINESS abbreviates, and the runs of words each abbreviation stands for.
CANON_SPELLINGS: dict[str, tuple[str, ...]] = {
    word: tuple(s for s, w in _WORD_CANON.items() if w == word) for word in set(_WORD_CANON.values())
}
WORD_CANON = _WORD_CANON
RUNS: dict[str, tuple[Key, ...]] = {
    short: tuple(run for run, s in _PHRASES.items() if s == short) for short in set(_PHRASES.values())
}
# The words a category's name starts with (after the normal form): "CH DE FLEYRIAT", "HOPITAL PRIVE …".
_CATEGORY_HEADS_TEXT = "ch chu chr chru chi chs chd chic cht gh hl hu hopital clinique polyclinique epsm"
_CATEGORY_HEADS = frozenset(_CATEGORY_HEADS_TEXT.split())
# The heads that say a hospital, not a clinic: an ESPIC (365) is named "Hôpital …" only when its name says so.
_HOSPITAL_HEADS = _CATEGORY_HEADS - {"clinique", "polyclinique"}
# Tags FINESS writes at either end of a name for the legal entity or the site, which texts leave out ("HU PITIE
# SALPETRIERE APHP", "HOPITAL EDOUARD HERRIOT - HCL", "APHM HOPITAL LA TIMONE", "HOSPICES CIVILS DE LYON - SIEGE").
_ENTITY_TAGS: frozenset[Key] = frozenset(
    {("aphp",), ("aphm",), ("hcl",), ("ghh",), ("siege",), ("ap", "hp"), ("ap", "hm")}
)
_TAG_HEADS = frozenset(tag[0] for tag in _ENTITY_TAGS)
_TAG_TAILS = frozenset(tag[-1] for tag in _ENTITY_TAGS)
# A raw name that may hold a tag or a head texts leave out: only those are reduced to words for the bare form.
_TAGGED = re.compile(r"\b(?:aphp|aphm|ap-hp|ap-hm|hcl|ghh|siege|clcc|hu)\b", re.IGNORECASE)
# Heads a text leaves out: "CLCC INSTITUT GUSTAVE ROUSSY" is "Institut Gustave Roussy", "HU PITIE SALPETRIERE
# APHP" the "Pitié-Salpêtrière".
_DROPPED_HEADS = frozenset({"clcc", "hu"})


@dataclass(frozen=True, slots=True)
class HospitalCategory:
    """How texts name an establishment of one FINESS category by its commune: ``words`` before the commune
    ("CH Arles", "Hôpital d'Arles"), ``after`` behind it ("Rennes University Hospital"); ``rank`` orders the
    categories when several could claim one form (0 first)."""

    rank: int
    words: tuple[str, ...]
    after: tuple[str, ...] = ()


# The FINESS categories a text names by category and commune: the public hospitals (355 centre hospitalier, 106
# CH ex-hôpital local, 101 CHR/CHU, 292 CH spécialisé en psychiatrie), the private not-for-profit ones (365
# ESPIC "Hôpital …") and private clinics (128 surgical, 129 medical). Left out: units of a hospital that texts
# name by the hospital (362 USLD), and categories whose establishments share communes by the dozen (109 SSR, 500
# EHPAD, 620 pharmacies): "EHPAD de Lyon" names none of them.
# English press writes a CH as "Arles Hospital" or "Hospital of Arles" ("of" is left out of the words compared).
HOSPITAL_CATEGORIES: dict[str, HospitalCategory] = {
    "355": HospitalCategory(0, ("ch", "hopital", "hospital"), ("hospital",)),
    "101": HospitalCategory(0, ("chu", "chr", "chru", "hopital"), ("chu",)),
    "106": HospitalCategory(1, ("ch", "hopital", "hl", "hospital"), ("hospital",)),
    "292": HospitalCategory(2, ("ch", "chs", "epsm", "hospital"), ("hospital",)),
    "365": HospitalCategory(3, ("hopital",)),  # "Clinique" for one whose name does not say hôpital
    "128": HospitalCategory(4, ("clinique",)),
    "129": HospitalCategory(4, ("clinique",)),
}
_WORD = re.compile(r"[0-9a-z]+")  # as alertd.match.normalise.tokens finds words in folded text
_EXPAND = {word: parts[0] for word, parts in EXPANSIONS.items()}
_CEDEX = re.compile(r"\s+CEDEX(?:\s+\d+)?\s*$", re.IGNORECASE)
_RAW = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]+")
# Non-ASCII characters that separate words; other non-ASCII characters are folded with the word they touch.
SEPARATORS = "\u2019\u2018\u201b\u02bc\u2032\u00ab\u00bb\u2039\u203a\u201c\u201d\u201e\u2013\u2014\u2010\u2011\u2012\u2015\u2026\u2022\u00b7\u00a0\u202f\u2009\u200b\u00a9\u00ae\u2122\u00b0\u00a7"  # noqa: E501
MAX_TEXT = 20_000  # characters of a text read for names: a name sits in a title or a summary, not past this


# A dot between two characters of words that stand alone: dotted initials ("C.H.U."), as text_tokens joins them.
_WORD_CHAR = "[^\\x00-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7f" + SEPARATORS + "]"
_DOTTED = re.compile(rf"\.(?<=(?<!{_WORD_CHAR}){_WORD_CHAR}\.){_WORD_CHAR}(?!{_WORD_CHAR})")


class Token(NamedTuple):
    """One word of a text in normal form, where it is written (``start``, ``end``) and how (a tuple: a long text
    makes thousands, and a tuple is made three times faster than a frozen dataclass)."""

    word: str
    start: int
    end: int
    written: str  # as the text writes it (dotted initials joined: "CHU" for "C.H.U.")
    stop: bool = False  # an article or preposition
    last: int = 0  # the index of its last piece among the text's tokens (a run of words gives one token)

    @property
    def upper(self) -> bool:
        """Written in upper case, two letters or more."""
        return len(self.written) > 1 and self.written.isupper()

    @property
    def capital(self) -> bool:
        """Written with a capital first letter."""
        return self.written[:1].isupper()


@functools.lru_cache(maxsize=65536)
def _fold(word: str) -> Key:
    return tuple(_WORD_CANON.get(part, part) for part in tokens(word))


@functools.lru_cache(maxsize=65536)
def _fold_written(written: str) -> Key:
    return _fold(written.lower())  # cached as written: one lookup per word of a text, no lower-casing


def text_tokens(text: str) -> list[Token]:
    """The words of ``text`` (its first :data:`MAX_TEXT` characters) in normal form, stop words marked.

    Linear in the text: one regex pass of plain character classes, then one step per word.
    """
    clean = text[:MAX_TEXT]
    if not clean.isascii():
        for ch in SEPARATORS:
            if ch in clean:
                clean = clean.replace(ch, " ")  # one character for one: positions stay the text's
    raw = [m.span() for m in _RAW.finditer(clean)]
    out: list[Token] = []
    # tuple.__new__ makes a Token without the Python-level __new__ of a named tuple: half the cost, per word.
    append, make, stops, fold_word = out.append, tuple.__new__, STOP_WORDS, _fold_written
    i, n = 0, len(raw)
    while i < n:
        start, end = raw[i]
        j = i
        # Dotted initials, "C.H.U.": single letters each followed by a dot and the next one.
        if end - start == 1:
            while (
                j + 1 < n
                and raw[j][1] - raw[j][0] == 1
                and raw[j + 1][1] - raw[j + 1][0] == 1
                and raw[j + 1][0] == raw[j][1] + 1
                and clean[raw[j][1]] == "."
            ):
                j += 1
        if j > i:
            written = "".join(clean[raw[k][0]] for k in range(i, j + 1))
            end = raw[j][1]
        else:
            written = clean[start:end]
        i = j + 1
        for part in fold_word(written):
            append(make(Token, (part, start, end, written, part in stops, len(out))))
    return out


def abbreviated(words: AbstractSet[str], more: AbstractSet[str]) -> set[str]:
    """The words of a name that a text whose tokens are ``words`` and ``more`` can hold besides them, as
    :func:`core_tokens` makes them: the word FINESS writes each as, and the abbreviation of each run of words all
    of whose words are there. Only the few words concerned are looked up (a text has hundreds)."""
    out = {_WORD_CANON[w] for part in (words, more) for w in _WORD_CANON.keys() & part}
    if not (_PHRASE_HEADS.isdisjoint(words) and _PHRASE_HEADS.isdisjoint(more) and _PHRASE_HEADS.isdisjoint(out)):
        out.update(short for run, short in _PHRASES.items() if all(w in words or w in more or w in out for w in run))
    return out


def dotted_words(text: str) -> set[str]:
    """The tokens that dotted initials make in ``text`` ("C.H.U." → ``chu``, "8.0.1" → ``801``, as
    :func:`text_tokens` joins them): a text's raw words do not show them. A regular-expression search for each
    dot between two characters standing alone; prose has few."""
    dots = [m.start() for m in _DOTTED.finditer(text)] if "." in text else []
    out: set[str] = set()
    i = 0
    while i < len(dots):
        j = i
        while j + 1 < len(dots) and dots[j + 1] == dots[j] + 2:
            j += 1
        written = "".join(text[d - 1] for d in dots[i : j + 1]) + text[dots[j] + 1]
        out.update(_fold(written.lower()))
        i = j + 1
    return out


def core_tokens(toks: list[Token]) -> list[Token]:
    """The tokens a name is compared on: stop words left out, abbreviated runs of words made one token."""
    words = [t for t in toks if not t.stop]
    if _PHRASE_HEADS.isdisjoint([t.word for t in words]):
        return words
    out: list[Token] = []
    i = 0
    while i < len(words):
        if words[i].word in _PHRASE_HEADS:
            for size in range(min(_PHRASE_LONGEST, len(words) - i), 1, -1):
                short = _PHRASES.get(tuple(t.word for t in words[i : i + size]))
                if short is not None:
                    first, last = words[i], words[i + size - 1]
                    out.append(Token(short, first.start, last.end, first.written, False, last.last))
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
        else:
            out.append(words[i])
            i += 1
    return out


@functools.lru_cache(maxsize=262144)
def name_key(name: str) -> Key:
    """The words a registry name is compared on: "CTRE HOSP. D'ARLES" and "Centre hospitalier d'Arles" are both
    ``("ch", "arles")``."""
    if "." in name:  # dotted initials are joined only by the tokens of a text
        return tuple(t.word for t in core_tokens(text_tokens(name)))
    return _canon(tokens(name))


def name_keys_of(names: list[str]) -> list[Key]:
    """:func:`name_key` of many names at once, without a call and a cache probe per name (a national
    registry's 95,000 names)."""
    find, special, lower = _WORD.findall, _SPECIAL, str.lower
    out: list[Key] = []
    for name in names:
        if "." in name:
            out.append(name_key(name))
            continue
        words = find(lower(name) if name.isascii() else fold(name))
        out.append(tuple(words) if special.isdisjoint(words) else _canon(tuple(_EXPAND.get(w, w) for w in words)))
    return out


def compared_words(toks: Iterable[str]) -> Key:
    """The words a run of a text's tokens (as :func:`alertd.match.normalise.tokens` makes them) is compared on,
    as :func:`core_tokens` makes them, without positions: stop words out, runs of words abbreviated."""
    return _canon(tuple(toks))


def _canon(words: Key) -> Key:
    """Folded words in normal form: stop words out, abbreviations made one, runs of words abbreviated."""
    kept = [_WORD_CANON.get(w, w) for w in words if w not in STOP_WORDS]
    if _PHRASE_HEADS.isdisjoint(kept):
        return tuple(kept)
    out: list[str] = []
    i = 0
    while i < len(kept):
        if kept[i] in _PHRASE_HEADS:  # a run of words starts with one of them: the rest are passed as they are
            for size in range(min(_PHRASE_LONGEST, len(kept) - i), 1, -1):
                short = _PHRASES.get(tuple(kept[i : i + size]))
                if short is not None:
                    out.append(short)
                    i += size
                    break
            else:
                out.append(kept[i])
                i += 1
        else:
            out.append(kept[i])
            i += 1
    return tuple(out)


def distinctive(key: Key) -> list[str]:
    """The words of a name that say which establishment it is, not what it is or whose saint it bears."""
    return [w for w in key if w not in _WEAK_WORDS and not w.isdigit()]


def is_weak(key: Key) -> bool:
    """A name needing context to count: fewer than two distinctive words and no category word ("FEDERATION",
    "LA PROVIDENCE", "SAINT LOUIS"), so that it names ordinary things as often as the establishment."""
    return len(distinctive(key)) < 2 and not any(w in CATEGORY_WORDS for w in key)


def commune_of(est: Establishment) -> Key:
    """The establishment's commune as a name key ("ARLES CEDEX" → ``("arles",)``)."""
    return _commune(est.city) if est.city else ()


@functools.lru_cache(maxsize=65536)
def _commune(city: str) -> Key:
    return name_key(_CEDEX.sub("", city))


# -- the forms of each establishment's name --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Form:
    """One form of an establishment's name: its words (``key``), which form it is, and the name it stands for
    (the registered name or alias; for a derived form, its words)."""

    establishment: str
    kind: NameForm
    name: str
    key: Key


def own_names(est: Establishment) -> Iterator[tuple[NameForm, str]]:
    """The establishment's own names: the registered name, its aliases, FINESS's long name."""
    yield NameForm.NAME, est.name
    for alias in est.aliases:
        yield NameForm.ALIAS, alias
    if est.finess is not None and est.finess.long_name:
        yield NameForm.LONG_NAME, est.finess.long_name


def registry_forms(registry: Registry) -> Iterator[Form]:
    """The forms derived from category and commune, and from category and own name, for the open hospitals.

    A category-and-commune form several establishments could claim (a hospital and its day hospitals, all in
    Arles, all CH) goes to one, never to all: the one whose name starts with its category ("CH …", "HOPITAL …",
    the entity tags left out: "APHM HOPITAL NORD" does, so a CHU site comes before the private ESPIC "HOPITAL
    EUROPEEN"), then the first category by :attr:`HospitalCategory.rank`, then the one whose own name contains the
    commune, then the shortest name, then the lowest number. When that one is a satellite of its legal entity (its
    name neither starts with the category nor holds the commune: "SSR HOTEL DIEU DE FLEYRIAT", in
    Bourg-en-Bresse), the form goes to the legal entity's head establishment, chosen the same way ("CH DE
    FLEYRIAT", in Viriat): "Centre hospitalier de Bourg-en-Bresse" is that hospital.

    The category-and-name forms are the category's own words before the name's own words, without its category,
    its commune, the site it ends with and the entity tags at its ends ("Hôpital Simone Veil" for CH DE CANNES
    SIMONE VEIL, "CH de l'Ouest Vosgien" for CHI L'OUEST VOSGIEN SITE NEUFCHATEAU, "Hôpital Necker Enfants
    Malades" for HU NECKER ENFANTS MALADES APHP); a clinic gets no "CH" or "Hôpital" form. Any establishment is
    also its name without its entity tags and without a head texts leave out, when two distinctive words remain
    ("Hospices Civils de Lyon", "Institut Gustave Roussy" for CLCC INSTITUT GUSTAVE ROUSSY, "Pitié Salpêtrière").
    """
    yield from commune_forms(registry).values()
    yield from own_derived_forms(registry)


def own_derived_forms(registry: Registry) -> Iterator[Form]:
    """The forms each establishment derives from its own fields alone, whatever the rest of the registry holds:
    the category-and-name forms of the hospitals (:func:`category_name_forms`), then the bare names
    (:func:`bare_forms`), in the registry's order; the tagged names' words worked out all at once."""
    hospitals = [est for est in registry.establishments.values() if is_hospital(est)]
    for est in hospitals:
        yield from category_name_forms(est)
    tagged = [est for est in registry.establishments.values() if not est.closed and _TAGGED.search(est.name)]
    for est, registered in zip(tagged, name_keys_of([est.name for est in tagged]), strict=True):
        yield from _bare_form(est, registered)


def is_hospital(est: Establishment) -> bool:
    """Whether the establishment is an open hospital of a category texts name by its commune: one that claims
    category-and-commune forms (:func:`commune_forms`) and has category-and-name forms."""
    return not est.closed and est.category in HOSPITAL_CATEGORIES and bool(est.city)


def commune_forms(
    registry: Registry, before: Mapping[Key, Form] | None = None, edited: Iterable[Establishment] = ()
) -> dict[Key, Form]:
    """The category-and-commune forms of the registry, each with the one establishment it goes to (see
    :func:`registry_forms`), by their words.

    ``before``: the forms of the registry before a reload that edited the hospitals ``edited`` (as they were and
    as they are): only the forms claimed in their communes, and in the communes of the hospitals of their legal
    entities, are decided again; the others are taken from ``before``.
    """
    hospital, categories = is_hospital, HOSPITAL_CATEGORIES
    hospitals = [e for e in registry.establishments.values() if e.category in categories and hospital(e)]
    by_entity: dict[str, list[Establishment]] = defaultdict(list)
    for est in hospitals:
        if est.finess is not None and est.finess.ej:
            by_entity[est.finess.ej].append(est)
    redo: set[Key] | None = None
    if before is not None:
        touched = [est for est in edited if hospital(est)]
        redo = {commune_of(est) for est in touched}
        entities = {est.finess.ej for est in touched if est.finess is not None and est.finess.ej}
        redo.update(commune_of(est) for ej in entities for est in by_entity.get(ej, ()))

    def order(est: Establishment, commune: Key) -> tuple[bool, int, bool, int, str]:
        key = _without_tags(name_key(est.name))
        return (
            not (key and key[0] in _CATEGORY_HEADS),
            HOSPITAL_CATEGORIES[est.category].rank,
            not _contains(key, commune),
            len(key),
            est.id,
        )

    claims: dict[Key, tuple[Key, list[Establishment]]] = {}
    again: set[Key] = set()  # the forms decided again (all of them without ``before``)
    for est in hospitals:
        commune = commune_of(est)
        if not commune:
            continue
        category = categories[est.category]
        keys = [(word, *commune) for word in category_words(est)] + [(*commune, word) for word in category.after]
        for key in keys:
            claims.setdefault(key, (commune, []))[1].append(est)
        if redo is None or commune in redo:
            again.update(keys)
    out: dict[Key, Form] = {}
    for key, (commune, claimants) in claims.items():
        kept = before.get(key) if before is not None and key not in again else None
        if kept is not None:
            out[key] = kept
            continue
        winner = min(claimants, key=lambda e: order(e, commune))
        own = _without_tags(name_key(winner.name))
        entity = by_entity.get(winner.finess.ej, []) if winner.finess is not None and winner.finess.ej else []
        if not _contains(own, commune) and not (own and own[0] in _CATEGORY_HEADS) and len(entity) > 1:
            winner = min(entity, key=lambda e: order(e, ()))
        out[key] = Form(winner.id, NameForm.CATEGORY_COMMUNE, " ".join(key), key)
    return out


def category_name_forms(est: Establishment) -> Iterator[Form]:
    """A hospital's category-and-name forms (see :func:`registry_forms`): its own, whatever the rest of the
    registry holds."""
    if not is_hospital(est):
        return
    registered = name_key(est.name)
    own = _without_tags(registered)
    if not own or own[0] not in _CATEGORY_HEADS:
        return
    rest = _without(_before_site(own[1:]), commune_of(est))
    if not distinctive(rest):
        return
    for word in category_words(est):
        key = (word, *rest)
        if key != registered:
            yield Form(est.id, NameForm.CATEGORY_NAME, " ".join(key), key)


def bare_forms(est: Establishment) -> Iterator[Form]:
    """The establishment's name without its entity tags and a head texts leave out, if that is another form
    with two distinctive words (see :func:`registry_forms`); its own, whatever the rest of the registry holds."""
    if not est.closed and _TAGGED.search(est.name):
        yield from _bare_form(est, name_key(est.name))


def _bare_form(est: Establishment, registered: Key) -> Iterator[Form]:
    bare = _without_tags(registered)
    if bare and bare[0] in _DROPPED_HEADS:
        bare = _without_tags(bare[1:])
    if bare != registered and len(distinctive(bare)) >= 2:
        yield Form(est.id, NameForm.CATEGORY_NAME, " ".join(bare), bare)


def category_words(est: Establishment) -> tuple[str, ...]:
    """The words of its category a hospital is named by: an ESPIC (365) whose name does not say hôpital is a
    clinic ("CLINIQUE SAINT-JOSEPH" is no "Hôpital Saint-Joseph")."""
    words = HOSPITAL_CATEGORIES[est.category].words
    if est.category == "365" and _HOSPITAL_HEADS.isdisjoint(name_key(est.name)):
        return ("clinique",)
    return words


def fitting_words(category: str) -> frozenset[str]:
    """The category words that say an establishment of ``category`` is meant: its kind's words for a FINESS code
    (none for a kind texts do not name by a category word), any category word for a category written otherwise."""
    if category.isdigit():
        return _KIND_WORDS.get(category, frozenset())
    return CATEGORY_WORDS


def _without_tags(key: Key) -> Key:
    """A name without the entity tags at its ends ("HU PITIE SALPETRIERE APHP" is the hospital Pitié-Salpêtrière)."""
    if not key or (key[0] not in _TAG_HEADS and key[-1] not in _TAG_TAILS):
        return key  # most names: two set probes
    changed = True
    while changed and key:
        changed = False
        for tag in _ENTITY_TAGS:
            n = len(tag)
            if len(key) > n and key[-n:] == tag:
                key, changed = key[:-n], True
            elif len(key) > n and key[:n] == tag:
                key, changed = key[n:], True
    return key


def _before_site(key: Key) -> Key:
    """A name without the site it ends with: "CHI L'OUEST VOSGIEN SITE NEUFCHATEAU" is the CHI de l'Ouest
    Vosgien, "CHRU RENNES SITE PONTCHAILLOU" the CHRU of Rennes."""
    return key[: key.index("site")] if "site" in key else key


def _contains(key: Key, part: Key) -> bool:
    """Whether ``part`` is a run of ``key``'s words."""
    n = len(part)
    return n > 0 and any(key[i : i + n] == part for i in range(len(key) - n + 1))


def _without(key: Key, part: Key) -> Key:
    """``key`` without the first run of ``part``'s words in it."""
    n = len(part)
    for i in range(len(key) - n + 1):
        if n and key[i : i + n] == part:
            return key[:i] + key[i + n :]
    return key


def gazetteer(establishments: Iterable[Establishment]) -> frozenset[Key]:
    """The communes of the registry as name keys: FINESS's give a French gazetteer."""
    return frozenset(c for c in map(commune_of, establishments) if c)


__all__ = [
    "CANON_SPELLINGS",
    "CATEGORY_WORDS",
    "GENERIC_WORDS",
    "HOSPITAL_CATEGORIES",
    "RUNS",
    "STOP_WORDS",
    "WORD_CANON",
    "Form",
    "HospitalCategory",
    "Key",
    "Token",
    "abbreviated",
    "bare_forms",
    "category_name_forms",
    "category_words",
    "commune_forms",
    "commune_of",
    "compared_words",
    "core_tokens",
    "distinctive",
    "dotted_words",
    "fitting_words",
    "gazetteer",
    "is_hospital",
    "is_weak",
    "name_key",
    "own_derived_forms",
    "own_names",
    "registry_forms",
    "text_tokens",
]
