"""Evidence, not coincidence: which establishments a text names, and why each other name form found in it was
ruled out (codes, :class:`alertd.domain.codes.NameRuling`).

Every form of every open establishment's name (:mod:`alertd.match.name_forms`) is filed in one
:class:`alertd.match.names.PhraseIndex`; a text whose words hold none of its anchors, nor a declared acronym,
costs a set intersection. Where forms are found, each is judged:

1. **The longest name wins**: a form inside a longer one found at the same place is not a mention ("CH du Val de
   Lys" inside "CH du Val de Lys Nord", "SIMONE VEIL" inside "Hôpital Simone Veil").
2. **One establishment per form**: a form several establishments share counts for the one whose commune, postcode,
   département or region is named near it (outside the name's own words), else for the one the registry's order
   points to (its own registered name before a derived form), else for none.
3. **The post's country** (the ``country_code`` fact), where the source gives one, must be the establishment's;
   where it gives none, a foreign place anywhere in a title ("Belgique : le CHU Saint-Pierre…") rules the name
   out unless the establishment's commune or département is written too.
4. **No other place**: a preposition or a parenthesis after the name followed by a place that is not the
   establishment's ("… de Beyrouth", "(Bruxelles)", "… de Castelnau-le-Lez") rules it out, and so does a commune
   of the gazetteer that the name runs into ("CH d'Arles-sur-Tech" is not the CH of Arles). A place is a commune
   of the registry (the gazetteer), a département or region, a word of :data:`_PLACE_WORDS`, or a capitalised
   word in a text not written all in capitals; the establishment's own département and region are its place
   ("CHU de Rennes (Ille-et-Vilaine)").
5. **One name, not the start of another**: a short name running on into more capitalised words is another,
   longer name ("Hôpital Européen Georges-Pompidou" is not HOPITAL EUROPEEN, in Marseille).
6. **Weight** (:class:`_Needs`): a weak name (:func:`alertd.match.name_forms.is_weak`: "FEDERATION", "LA
   PROVIDENCE", "SAINT LOUIS") counts only with a word of its own kind next to it
   (:func:`alertd.match.name_forms.fitting_words`: "Hôpital" for a hospital, "Pharmacie" for a pharmacy) or its
   place near it; a category and a saint ("Clinique Saint-Paul", "Hôpital Saint-Paul" for the CH in Saint-Paul)
   only with its place near it (or "de" before the commune: "Hôpital de Saint-Paul"); a commune's name
   ("IVRY SUR SEINE", the EHPAD "PONTPOINT") only with a word of its kind next to it: "Mairie de Pontpoint" is
   the town hall.

A declared acronym ("CHSF") counts only written as a whole word in upper case, with a category word, the
commune, the postcode or the department near it.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

from alertd.domain.codes import NameForm, NameRuling
from alertd.domain.establishments import Establishment, Registry
from alertd.match.areas import AREA_KEYS, areas_of, department_code
from alertd.match.name_forms import (
    CANON_SPELLINGS,
    CATEGORY_WORDS,
    GENERIC_WORDS,
    MAX_TEXT,
    RUNS,
    SEPARATORS,
    WORD_CANON,
    Form,
    Key,
    Token,
    abbreviated,
    bare_forms,
    category_name_forms,
    commune_forms,
    commune_of,
    compared_words,
    core_tokens,
    distinctive,
    dotted_words,
    fitting_words,
    gazetteer,
    is_hospital,
    name_key,
    own_derived_forms,
    own_names,
    text_tokens,
)
from alertd.match.names import PhraseIndex, Words, est_name_keys, name_keys, words_of

_NEAR = 12  # words either side of a name searched for its commune
_REACH = 200  # characters either side of a word that may start a name: the name, its context and its place
_ACRONYM_NEAR = 6  # words either side of an acronym searched for its context
_LONGEST_COMMUNE = 6  # words
# Words that introduce a place after a name: "de Beyrouth", "à Cannes", "in Brussels".
_PLACE_INTRO_TEXT = "de d du des a au aux en in at near pres of"
_PLACE_INTRO = frozenset(_PLACE_INTRO_TEXT.split())
# Foreign countries and cities that posts name, where hospitals bear French names ("CHU Saint-Pierre",
# Brussels; "Hôpital de Verdun", Montréal): after a name, or anywhere in a title without a country.
_FOREIGN_TEXT = """
    usa uk england london londres america belgique belgium bruxelles brussels brussel liege luik anvers antwerpen
    antwerp namur charleroi wallonie suisse switzerland schweiz geneve geneva lausanne zurich liban lebanon
    beyrouth beirut canada quebec montreal ontario espana espagne spain madrid barcelona barcelone italia italie
    italy deutschland allemagne germany luxembourg maroc morocco casablanca tunisie tunisia algerie algeria senegal
    dakar cameroun abidjan
    """
_FOREIGN = frozenset(_FOREIGN_TEXT.split())
# Words that make a place of what precedes or follows them ("St. Louis County"), and the foreign places.
_PLACE_WORDS_TEXT = "county city state parish province district canton region us"
_PLACE_WORDS = frozenset(_PLACE_WORDS_TEXT.split()) | _FOREIGN
_TITLE = 300  # characters: a text this short is a title, whose every word tells where its names are
_SAINTS = frozenset({"saint", "sainte", "notre"})
_OF = frozenset({"de", "d", "du"})  # "Hôpital de Saint-Paul": the hospital of the commune Saint-Paul
# Words of a headline that follow a name without making a longer name of it ("Hôpital Européen Hit By …").
_HEADLINE_TEXT = """
    hit hacked breached breach leak leaked leaks data victim victime attack attacked attaque cyberattack
    cyberattaque ransomware rancongiciel claims claimed says confirms by
    """
_HEADLINE = frozenset(_HEADLINE_TEXT.split())


class _Needs(enum.Enum):
    """What a weak name needs written with it to count."""

    CONTEXT = "context"  # a word of its kind next to it, or its place near it: "FEDERATION", "SAINT LOUIS"
    PLACE = "place"  # its place near it: a category and a saint, "Clinique Saint-Paul"
    KIND = "kind"  # a word of its kind next to it: a commune's name, "IVRY SUR SEINE", "PONTPOINT"


_COUNTRY_WORDS = {"FR": frozenset({"france", "fr", "fra"})}


@dataclass(frozen=True, slots=True)
class Mention:
    """One establishment's name form found in a text, and what the matcher made of it."""

    establishment: str
    kind: NameForm
    name: str  # the registered name or alias; for a derived form, its words
    written: str  # the words as the text writes them
    ruling: NameRuling
    place: str = ""  # OTHER_PLACE: the place named; OTHER_COUNTRY: the post's country; LONGER_NAME: the words
    other: str = ""  # OTHER_ESTABLISHMENT: the establishment the form counts for
    placed: bool = False  # OTHER_ESTABLISHMENT: the other's place is written near it; MATCHED: its own is
    context: str = ""  # MATCHED, a weak name: what made it count as the text writes it (a category word, a place)

    @property
    def matched(self) -> bool:
        """Whether it counts as a mention of the establishment."""
        return self.ruling is NameRuling.MATCHED


@dataclass(frozen=True, slots=True)
class _Where:
    """What the matcher knows of an establishment's place."""

    commune: Key
    postcode: str
    department: str
    country: str
    entity: str
    areas: tuple[Key, ...]  # its département's and region's names
    category: str


@dataclass(slots=True)
class _Text:
    """A text being judged: its tokens and its compared tokens."""

    text: str
    toks: list[Token]
    core: list[Token]
    words: list[str]  # the compared words
    _shouting: bool | None = None

    @property
    def shouting(self) -> bool:
        """Whether it is written all in capitals (worked out when first asked: most texts never are)."""
        if self._shouting is None:
            letters = [t.written for t in self.toks if t.written.isalpha()]
            self._shouting = bool(letters) and all(w.isupper() for w in letters)
        return self._shouting


class NameMatcher:
    """Every form of every open establishment's name, built once from the registry."""

    def __init__(self, registry: Registry, known: Mapping[str, Key] | None = None) -> None:
        """``known``: :meth:`own_keys` of the matcher before a reload (the words of each name, not worked out
        again)."""
        self._ests = registry.establishments
        looked, self.unsafe = name_keys(registry, known)
        forms = [Form(est_id, _own_kind(self._ests[est_id], name), name, key) for est_id, name, key in looked]
        self._names = {form.name: form.key for form in forms}
        self._commune_forms = commune_forms(registry)
        forms += self._commune_forms.values()
        forms += own_derived_forms(registry)
        self.forms: PhraseIndex[Form] = PhraseIndex((form.key, form) for form in forms)
        self._places = gazetteer(self._ests.values())
        self._communes = frozenset(_core(c) for c in self._places) - {()}
        self._needs: dict[tuple[str, Key], _Needs] = {}
        self._file_needs(forms)
        self._where: dict[str, _Where] = {}  # filled as candidates are judged
        self._acronyms, self._acronym_words = _acronyms_of(self._ests.values())

    def _file_needs(self, forms: Iterable[Form]) -> None:
        """Note what each establishment's forms of some words need to count: an establishment's form of these
        words that is not weak wins, else the last one's need (``forms`` in the index's order)."""
        strong: set[tuple[str, Key]] = set()
        for form in forms:
            needs = self._weakness(form, self._communes)
            mark = (form.establishment, form.key)
            if needs is None:
                strong.add(mark)
                self._needs.pop(mark, None)
            elif mark not in strong:
                self._needs[mark] = needs

    def __len__(self) -> int:
        return len(self.forms)

    def own_keys(self) -> dict[str, Key]:
        """The words of each name, alias and long name looked for (:func:`~alertd.match.names.name_keys`); after
        a reload, names no longer looked for may remain (a name's words depend on the name alone)."""
        return self._names

    def serving(self, registry: Registry) -> NameMatcher:
        """This matcher for ``registry``, whose establishments' names and places are those it was built from (a
        reload that changed other fields): its forms shared, its establishments looked up in ``registry``."""
        twin = copy.copy(self)
        twin._ests = registry.establishments
        twin._where = {}
        return twin

    def edited(self, registry: Registry) -> NameMatcher | None:
        """This matcher for ``registry`` after a reload that edited, added or removed some establishments: the
        forms of those establishments taken out of the phrase index and their new ones put in, as a matcher
        built from scratch would hold them (``tests/match/test_rebuild.py``). None when the edit reaches the
        whole registry (establishments moved among the others, or too many edited): build it again then.

        What ties establishments together is redone for the few concerned: the forms several share (each
        phrase's establishments in the registry's order), the category-and-commune forms (worked out again over
        the hospitals when a hospital was edited), the declared acronyms (when an edited one has some) and the
        gazetteer of communes (when an edited one's commune changed; then the forms whose words are a commune's
        that came or went are judged again).
        """
        before, after = self._ests, registry.establishments
        if list(before) == list(after):  # the usual reload: establishments edited in place, a walk in C loops
            changed = [new.id for old, new in zip(before.values(), after.values(), strict=True) if old is not new]
            changed = [i for i in changed if not _same_names(before[i], after[i])]
            removed = []
        else:
            changed = [i for i, e in after.items() if (old := before.get(i)) is not e and not _same_names(old, e)]
            removed = [i for i in before if i not in after]
        if len(changed) + len(removed) > _MOST_EDITED:
            return None
        if not changed and not removed:
            return self.serving(registry)
        added = {i for i in changed if i not in before}
        if list(before) != list(after) and [i for i in before if i in after] != [i for i in after if i not in added]:
            return None  # establishments moved among the others: the order of every shared phrase may change
        olds = [before[i] for i in changed if i not in added] + [before[i] for i in removed]
        news = [after[i] for i in changed]
        twin = self.serving(registry)
        touched = {*changed, *removed}
        if {commune_of(e) for e in olds} != {commune_of(e) for e in news}:
            touched |= twin._new_gazetteer(gazetteer(after.values()))
        if any(e.acronyms for e in (*olds, *news)):
            twin._acronyms, twin._acronym_words = _acronyms_of(after.values())
        if any(map(is_hospital, (*olds, *news))):
            twin._commune_forms = commune_forms(registry, self._commune_forms, (*olds, *news))
        old_cc, new_cc = self._commune_forms, twin._commune_forms
        if new_cc is not old_cc:
            for key in old_cc.keys() | new_cc.keys():
                was, now = old_cc.get(key), new_cc.get(key)
                if was != now:
                    touched.update(f.establishment for f in (was, now) if f is not None)
        edited = {*changed, *removed}
        twin._names = dict(self._names)
        forms_before = self._forms_of(touched, before, old_cc, twin._names)
        forms_after = twin._forms_of(touched, after, new_cc, twin._names)
        # The phrases whose establishments changed, each's forms as a build from scratch orders them: by section
        # (own names, category and commune, category and name, bare name), the registry's order, then the
        # establishment's own order. The establishments sharing them but not edited are placed again too.
        keys = {f.key for fs in (*forms_before.values(), *forms_after.values()) for _, f in fs}
        sharing = {f.establishment for key in keys for f in self.forms.values(key)} - touched
        forms_after.update(twin._forms_of(sharing, after, new_cc, twin._names))
        position = _positions(after, forms_after)
        placed: dict[Key, list[tuple[int, int, int, Form]]] = {key: [] for key in keys}
        for est_id, fs in forms_after.items():
            for n, (section, form) in enumerate(fs):
                if form.key in placed:
                    placed[form.key].append((section, position[est_id], n, form))
        changes = {key: tuple(f for *_, f in sorted(found, key=lambda x: x[:3])) for key, found in placed.items()}
        twin.forms = self.forms.edited(changes)
        twin._needs = dict(self._needs)
        for est_id, fs in forms_before.items():
            for _, form in fs:
                twin._needs.pop((est_id, form.key), None)
        twin._file_needs(f for est_id in touched if est_id in after for _, f in forms_after[est_id])
        unsafe = [u for u in self.unsafe if u.establishment not in edited]
        more = [u for est in news for u in est_name_keys(est, twin._names)[1]]
        if more or len(unsafe) < len(self.unsafe):
            unsafe += more
            position = _positions(after, {u.establishment for u in unsafe})
            unsafe.sort(key=lambda u: position[u.establishment])
            twin.unsafe = unsafe
        return twin

    def _new_gazetteer(self, places: frozenset[Key]) -> set[str]:
        """Take ``places`` as the registry's communes; return the establishments with a form whose weakness this
        may change (a name that is, or no longer is, a commune's)."""
        if places == self._places:
            return set()
        communes = frozenset(_core(c) for c in places) - {()}
        differ = communes ^ self._communes
        words = {w for c in differ for w in c}
        self._places, self._communes = places, communes
        return {
            form.establishment
            for key, forms in self.forms.items()
            if not words.isdisjoint(key) and _core(key) in differ
            for form in forms
        }

    def _forms_of(
        self,
        ids: Iterable[str],
        ests: Mapping[str, Establishment],
        commune: Mapping[Key, Form],
        names: dict[str, Key],
    ) -> dict[str, list[tuple[int, Form]]]:
        """The forms of these establishments in ``ests``, each's in the index's order with its section: own names
        (0), category and commune (1), category and name (2), bare name (3). New names' words go into ``names``."""
        wanted = {i for i in ids if i in ests}
        by_commune: dict[str, list[tuple[int, Form]]] = defaultdict(list)
        if wanted:
            for form in commune.values():
                if form.establishment in wanted:
                    by_commune[form.establishment].append((1, form))
        out: dict[str, list[tuple[int, Form]]] = {}
        for est_id in wanted:
            est = ests[est_id]
            looked, _ = est_name_keys(est, names)
            names.update((name, key) for _, name, key in looked)
            out[est_id] = [
                *((0, Form(est_id, _own_kind(est, name), name, key)) for _, name, key in looked),
                *by_commune.get(est_id, ()),
                *((2, form) for form in category_name_forms(est)),
                *((3, form) for form in bare_forms(est)),
            ]
        return out

    def _weakness(self, form: Form, communes: frozenset[Key]) -> _Needs | None:
        """What a form needs written with it to count, if it is weak (see :class:`_Needs`)."""
        key = form.key
        if form.kind is NameForm.CATEGORY_COMMUNE:
            # "Hôpital Saint-Paul" names the saint's hospitals everywhere as often as the CH in Saint-Paul.
            return _Needs.PLACE if len(key) > 1 and not _SAINTS.isdisjoint(key[:2]) else None
        few = len(distinctive(key)) < 2
        if form.kind is NameForm.CATEGORY_NAME:
            return _Needs.PLACE if few and not _SAINTS.isdisjoint(key) else None
        if form.kind is NameForm.ACRONYM:
            return None
        if _core(key) in communes and fitting_words(self._ests[form.establishment].category).isdisjoint(key):
            return _Needs.KIND
        if not few:
            return None
        if CATEGORY_WORDS.isdisjoint(key):  # as is_weak(key)
            return _Needs.CONTEXT
        return _Needs.PLACE if not _SAINTS.isdisjoint(key) else None

    def _place_of(self, est_id: str) -> _Where:
        """What the matcher knows of an establishment's place (worked out once, when first needed)."""
        where = self._where.get(est_id)
        if where is None:
            est = self._ests[est_id]
            finess = est.finess
            department = finess.department if finess is not None else ""
            entity = finess.ej if finess is not None else ""
            areas = areas_of(department_code(department, est.postcode))
            where = _Where(commune_of(est), est.postcode, department, est.country, entity, areas, est.category)
            self._where[est_id] = where
        return where

    # -- finding -------------------------------------------------------------------------------------------

    def find(self, text: str, country: str = "", words: Words | None = None) -> list[Mention]:
        """Every name form found in ``text``, each with its ruling; ``country`` is the post's ISO 3166 alpha-2
        code, if its source gives one. ``words`` is :func:`words_of` the text, when the caller has it."""
        prepared = words if words is not None else words_of(text)
        # The words the text can give are its raw words (those that fold into others, prepared.special, are no
        # name's words), and the few more that folding, dotted initials and abbreviations give.
        dotted = dotted_words(text)
        more = dotted.union(*prepared.special.values())
        more |= abbreviated(prepared.vocab, more)
        keys = self.forms.within(prepared.vocab, more)
        acronyms = list(self._acronym_words.intersection(prepared.vocab)) if self._acronym_words else []
        if not keys and not acronyms:
            return []
        located = _located(prepared, keys, dotted) if keys else {}
        if located == {} and not acronyms:
            return []  # every word of some name is in the text, but never all of one together
        out: list[Mention] = []
        for region in (piece for part in self._regions(text, prepared, located, acronyms) for piece in _pieces(part)):
            judged = self._prepare(region)
            if keys:
                out += self._judge_names(judged, country.upper())
            if acronyms:
                out += self._judge_acronyms(judged, country.upper())
        return out

    @staticmethod
    def _regions(text: str, prepared: Words, located: _Spots | None, acronyms: list[str]) -> list[str]:
        """The parts of a long text around the places a name may be (:func:`_located`) and the declared acronyms
        (whole words, ±:data:`_REACH` characters, overlapping parts joined); a short text whole. Only they are
        cut into tokens: an advisory of many pages costs a few ``str.find`` per place, not a token per word."""
        clean = prepared.clean
        if len(text) <= 2 * _REACH or located is None or len(clean) != len(text):
            return [text]  # short; a name the text spells only by a run of words; or positions would drift
        spots: dict[str, set[int] | None] = dict(located)
        if acronyms:
            wanted = set(acronyms)
            spots.update((w, None) for w in acronyms)
            spots.update((w, None) for w, parts in prepared.special.items() if not wanted.isdisjoint(parts))
        spans: list[tuple[int, int]] = []
        last = len(clean)
        for word, chosen in spots.items():
            # The n-th time the word stands alone in the clean text is its n-th place among the text's words.
            n = -1
            at = clean.find(word)
            while at >= 0:
                end = at + len(word)
                if (at == 0 or clean[at - 1] == " ") and (end == last or clean[end] == " "):
                    n += 1
                    if chosen is None or n in chosen:
                        spans.append((max(at - _REACH, 0), end + _REACH))
                at = clean.find(word, end)
        spans.sort()
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [_cut(text, start, end) for start, end in merged]

    def matched(self, text: str, country: str = "", words: Words | None = None) -> list[Mention]:
        """The establishments ``text`` names: the first matching form of each, in the order of the text."""
        seen: dict[str, Mention] = {}
        for found in self.find(text, country, words):
            if found.matched and found.establishment not in seen:
                seen[found.establishment] = found
        return list(seen.values())

    def forms_of(self, est_id: str) -> list[Form]:
        """The forms of an establishment's name looked for (``alertd explain``); a walk of the commune forms."""
        found = self._forms_of([est_id], self._ests, self._commune_forms, dict(self._names))
        return [form for _, form in found.get(est_id, ())]

    @staticmethod
    def _prepare(text: str) -> _Text:
        toks = text_tokens(text)
        core = core_tokens(toks)
        return _Text(text, toks, core, [t.word for t in core])

    def _judge_names(self, judged: _Text, country: str) -> Iterator[Mention]:
        hits = self.forms.occurrences(judged.words)
        inside = _inside_longer({(start, end) for start, end, _, _ in hits})
        for start, end, key, forms in hits:
            first, last = judged.core[start], judged.core[end - 1]
            written = judged.text[first.start : last.end]
            if (start, end) in inside:
                for form in forms:
                    yield _mention(form, written, NameRuling.CONTAINED)
                continue
            lo, hi = _index_of(judged, first), last.last
            chosen, placed = self._choose(judged, forms, lo, hi)
            for form in forms:
                if chosen is None:
                    yield _mention(form, written, NameRuling.AMBIGUOUS)
                elif form is not chosen:
                    other = chosen.establishment
                    yield Mention(*_fields(form, written), NameRuling.OTHER_ESTABLISHMENT, other=other, placed=placed)
            if chosen is None:
                continue
            where = self._place_of(chosen.establishment)
            if country and country != where.country:
                yield _mention(chosen, written, NameRuling.OTHER_COUNTRY, country)
                continue
            place = ("" if country else self._foreign(judged, where, lo, hi)) or self._other_place(
                judged, key, hi, where
            )
            if place:
                yield _mention(chosen, written, NameRuling.OTHER_PLACE, place)
                continue
            needs = self._needs.get((chosen.establishment, key))
            context, near = ("", False) if needs is None else self._context(judged, needs, start, end, where)
            if needs is not None and not context:
                yield _mention(chosen, written, NameRuling.WEAK)
                continue
            longer = self._runs_on(judged, chosen, hi, where)
            if longer:
                yield _mention(chosen, written, NameRuling.LONGER_NAME, longer)
                continue
            yield Mention(*_fields(chosen, written), NameRuling.MATCHED, placed=near, context=context)

    def _choose(self, judged: _Text, forms: Sequence[Form], first: int, last: int) -> tuple[Form | None, bool]:
        """The one form, of one establishment, a place near it or the registry's own order points to, and whether
        its place decided."""
        owners = {form.establishment for form in forms}
        if len(owners) == 1:
            return forms[0], False
        placed = [f for f in forms if self._near(judged, self._place_of(f.establishment), first, last, _NEAR)]
        if len({f.establishment for f in placed}) == 1:
            return placed[0], True
        pool = placed or list(forms)
        entities = {self._place_of(f.establishment).entity for f in pool}
        if len(entities) == 1 and "" not in entities:
            # Establishments of one legal entity sharing a name: the entity is meant; its lowest number stands.
            return min(pool, key=lambda f: f.establishment), bool(placed)
        own = [f for f in pool if f.kind not in _DERIVED]
        if len({f.establishment for f in own}) == 1 and len(own) < len(pool):
            return own[0], bool(placed)
        return None, False

    def _context(self, judged: _Text, needs: _Needs, start: int, end: int, where: _Where) -> tuple[str, bool]:
        """What makes a weak name count, as the text writes it ("" for nothing), and whether it is its place."""
        core = judged.core
        if needs is not _Needs.PLACE:
            fitting = fitting_words(where.category)
            for i in (start - 1, end):
                if 0 <= i < len(core) and core[i].word in fitting:
                    return core[i].written, False
        if needs is _Needs.KIND:
            return "", False
        first, last = core[start], core[end - 1]
        lo, hi = _index_of(judged, first), last.last
        if end - start > 1 and core[start].word in CATEGORY_WORDS and core[start + 1].word in _SAINTS:
            # "Hôpital de Saint-Paul", "Centre hospitalier de Saint-Renan": the saint is a commune's.
            between = judged.toks[core[start].last + 1 : _index_of(judged, core[start + 1])]
            of = next((t for t in between if t.word in _OF), None)
            if of is not None:
                return of.written, False
        found = self._near(judged, where, lo, hi, _NEAR)
        return (found, True) if found else ("", False)

    def _near(self, judged: _Text, where: _Where, first: int, last: int, reach: int) -> str:
        """The establishment's commune, postcode, département or region as written within ``reach`` words of the
        tokens ``first`` to ``last``, outside them (a name's own words never place it: "Hôpital Saint-Joseph" holds
        the commune Saint-Joseph); "" when none is."""
        toks = judged.toks
        lo = max(first - reach, 0)
        hi = min(last + reach + 1, len(toks))
        window = [t for t in (*toks[lo:first], *toks[last + 1 : hi]) if not t.stop]
        words = [t.word for t in window]
        for part in (where.commune, *where.areas):
            at = _find(words, part)
            if at >= 0:
                return judged.text[window[at].start : window[at + len(part) - 1].end]
        numbers = {where.postcode, where.department} - {""}
        return next((t.written for t in window if t.word in numbers), "")

    def _foreign(self, judged: _Text, where: _Where, first: int, last: int) -> str:
        """A foreign place anywhere in a title (a text of at most :data:`_TITLE` characters) where the
        establishment's own place is not written too; "" otherwise."""
        if len(judged.text) > _TITLE:
            return ""
        toks = judged.toks
        # Outside the name's own words: "PHARMACIE DU QUEBEC" names no foreign place.
        found = next((t.written for t in (*toks[:first], *toks[last + 1 :]) if t.word in _FOREIGN), "")
        if found and self._near(judged, where, first, last, len(judged.toks)):
            return ""
        return found

    def _runs_on(self, judged: _Text, chosen: Form, last: int, where: _Where) -> str:
        """The capitalised words a short name runs on into, in a text not written all in capitals: another,
        longer name ("Hôpital Européen Georges-Pompidou"); "" when it stops there."""
        toks = judged.toks
        nxt = last + 1
        if (
            judged.shouting
            or nxt >= len(toks)
            or chosen.kind is NameForm.CATEGORY_COMMUNE
            or len(distinctive(chosen.key)) >= 2
            or set(distinctive(chosen.key)) <= set(where.commune)  # "CENTRE HOSPITALIER DAX" names it by its commune
            or judged.text[toks[last].end : toks[nxt].start] not in (" ", "-")
        ):
            return ""
        tok = toks[nxt]
        if not tok.capital or not tok.written.isalpha() or tok.stop or tok.word in GENERIC_WORDS:
            return ""
        if tok.word in _HEADLINE or tok.word in _PLACE_WORDS:
            return ""
        own = {w for _, name in own_names(self._ests[chosen.establishment]) for w in name_key(name)}
        if tok.word in own or any(tok.word == part[0] for part in (where.commune, *where.areas) if part):
            return ""
        end = nxt
        while end + 1 < len(toks) and toks[end + 1].capital and not toks[end + 1].stop:
            end += 1
        return judged.text[tok.start : toks[end].end]

    def _other_place(self, judged: _Text, key: Key, last: int, where: _Where) -> str:
        """The place named right after a name, when it is not the establishment's; "" otherwise."""
        toks, text = judged.toks, judged.text
        nxt = last + 1
        if nxt >= len(toks):
            return ""
        # The name runs into a longer commune: "CH d'Arles-sur-Tech".
        follow = [t.word for t in toks[nxt : nxt + 4] if not t.stop][:3]
        for k in range(1, min(3, len(key)) + 1):
            for ext in range(1, len(follow) + 1):
                place = (*key[-k:], *follow[:ext])
                if place in self._places and place != where.commune:
                    return " ".join(place)
        gap = text[toks[last].end : toks[nxt].start]
        paren = "(" in gap
        comma = "," in gap
        j, intro = nxt, False
        while j < len(toks) and (toks[j].stop or toks[j].word in _PLACE_INTRO) and j - nxt < 3:
            intro = intro or toks[j].word in _PLACE_INTRO
            j += 1
        if j >= len(toks) or not (intro or paren or comma):
            return ""
        after = [t for t in toks[j : j + 2 * _LONGEST_COMMUNE] if not t.stop][:_LONGEST_COMMUNE]
        words = [t.word for t in after]
        if not words or any(part and tuple(words[: len(part)]) == part for part in (where.commune, *where.areas)):
            return ""
        if words[0].isdigit():
            return "" if words[0] in (where.postcode, where.department) or not paren else words[0]
        if words[0] in _COUNTRY_WORDS.get(where.country, ()):
            return ""
        for size in range(len(words), 0, -1):
            if tuple(words[:size]) in self._places or tuple(words[:size]) in AREA_KEYS:
                return text[after[0].start : after[size - 1].end]
        if words[0] in _PLACE_WORDS:
            return after[0].written
        first = toks[j]
        if (intro or paren) and first.capital and not judged.shouting and words[0] not in GENERIC_WORDS:
            return first.written
        return ""

    def _judge_acronyms(self, judged: _Text, country: str) -> Iterator[Mention]:
        toks = judged.toks
        for i, tok in enumerate(toks):
            ids = self._acronyms.get(tok.written) if tok.upper else None
            if ids is None:
                continue
            for est_id in ids:
                form = Form(est_id, NameForm.ACRONYM, tok.written, (tok.word,))
                where = self._place_of(est_id)
                if country and country != where.country:
                    yield _mention(form, tok.written, NameRuling.OTHER_COUNTRY, country)
                    continue
                lo, hi = i - _ACRONYM_NEAR, i + _ACRONYM_NEAR
                context = any(
                    t.word in CATEGORY_WORDS and lo <= t.last and _index_of(judged, t) <= hi and t.last != i
                    for t in judged.core
                ) or bool(self._near(judged, where, i, i, _ACRONYM_NEAR))
                yield _mention(form, tok.written, NameRuling.MATCHED if context else NameRuling.NO_CONTEXT)


_DERIVED = frozenset({NameForm.CATEGORY_COMMUNE, NameForm.CATEGORY_NAME, NameForm.ACRONYM})
_Spots = dict[str, set[int]]  # a raw word, and which of its occurrences (0 the first) may be in a name


def _located(prepared: Words, keys: list[tuple[str, Key]], dotted: set[str]) -> _Spots | None:
    """Where in a text each name it may hold (all its words are in the text) can be: for each raw word that
    locates one, the occurrences around which all the name's words are, within :func:`_span` raw words. None
    when some name has no word the text writes alone (only a run of words or dotted initials give them): the
    whole text is then read.

    A name is located by the word of it that the text writes least often, its anchor first: a long advisory in
    which the words of many names occur, but not together, costs a set of a few dozen words per occurrence of
    those words, and not a token (FINESS names are made of common words: "Pharmacie sans …", "… Sauvegarde").
    """
    words, vocab, special = prepared.words, prepared.vocab, prepared.special
    needed = {w for _, key in keys for w in key}
    runs = {w: RUNS[w] for w in needed if w in RUNS}
    needed.update(w for phrases in runs.values() for run in phrases for w in run)
    # The raw words of the text that give each word of those names.
    spell = {word: {word} if word in vocab else set() for word in needed}
    for word in CANON_SPELLINGS.keys() & needed:
        spell[word].update(other for other in CANON_SPELLINGS[word] if other in vocab)
    for raw, parts in special.items():
        for part in parts:
            got = spell.get(WORD_CANON.get(part, part))
            if got is not None:
                got.add(raw)
    counts: dict[str, int] = {}
    tally = Counter(words)  # once: a count per word looked up would read the whole text for each

    def count(word: str) -> int:
        found = counts.get(word)
        if found is None:
            found = counts[word] = sum(tally[raw] for raw in spell[word])
        return found

    gives: dict[str, set[str]] = defaultdict(set)  # the other way: the words of those names each raw word gives
    for word, raws in spell.items():
        for raw in raws:
            gives[raw].add(word)
    givers = frozenset(gives)
    groups: dict[str, list[Key]] = defaultdict(list)
    for anchor, key in keys:
        spelled = [w for w in key if spell[w]]
        if not spelled:
            return None
        if spell[anchor] and count(anchor) <= 2:
            locator = anchor  # few enough places to look at
        else:
            locator = min(spelled, key=lambda w: (count(w), w != anchor))
        for raw in spell[locator]:
            groups[raw].append(key)
    located: _Spots = {}
    for raw, group in groups.items():
        reach = _span(max(map(len, group)))
        chosen: set[int] = set()
        p = n = -1
        while True:
            try:
                p = words.index(raw, p + 1)
            except ValueError:
                break
            n += 1
            window = words[max(p - reach, 0) : p + reach + 1]
            near = dotted.union(*(gives[raw] for raw in givers.intersection(window)))
            for short, phrases in runs.items():
                if any(near.issuperset(run) for run in phrases):
                    near.add(short)
            hopeful = [key for key in group if near.issuperset(key)]
            # All the words of a name near: is it written there, its words in a row? Raw words do not show the
            # dots of dotted initials: a text that has some is looked at wherever the words are near.
            if hopeful and (dotted or _written(hopeful, window, special)):
                chosen.add(n)
        if chosen:
            located[raw] = chosen
    return located


def _inside_longer(spans: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """The spans that lie within a longer one, in one sweep (a text naming thousands of establishments must not
    cost a comparison of every name with every other): in order of start, longest first, a span is inside a
    longer one when an earlier span reaches as far."""
    inside: set[tuple[int, int]] = set()
    reach = -1
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if reach >= end:
            inside.add((start, end))
        reach = max(reach, end)
    return inside


def _span(length: int) -> int:
    """Raw words either side of a word of a name of ``length`` words within which the rest of it must be: a
    name's word may be written as a run of up to five ("Etablissement public de santé mentale") or as dotted
    initials, with articles between."""
    return 4 * length + 4


def _written(keys: list[Key], window: list[str], special: dict[str, Key]) -> bool:
    """Whether one of ``keys`` is a run of the words that the raw words ``window`` are compared on, as
    :func:`alertd.match.name_forms.core_tokens` makes them."""
    if special.keys().isdisjoint(window):
        parts: Iterable[str] = window  # no word of it folds into others: its raw words are its tokens
    else:
        parts = (part for raw in window for part in special.get(raw, (raw,)))
    compared = " " + " ".join(compared_words(parts)) + " "
    return any(" " + " ".join(key) + " " in compared for key in keys)


def _word_char(ch: str) -> bool:
    """Whether a character is part of a word, as the words of a text are cut."""
    return ch.isalnum() or (ord(ch) >= 0x80 and ch not in SEPARATORS)


def _pieces(region: str) -> list[str]:
    """A region in pieces of at most :data:`MAX_TEXT` characters that overlap by twice :data:`_REACH` (a name and
    its context stand whole in one of them): the tokens of a text stop at MAX_TEXT, and a name written after a
    long run of other names (a padded post, a weekly list of victims) must still be read."""
    if len(region) <= MAX_TEXT:
        return [region]
    step = MAX_TEXT - 3 * _REACH  # pieces of MAX_TEXT - _REACH: room left for widening to whole words
    return [_cut(region, start, start + step + 2 * _REACH) for start in range(0, len(region), step)]


def _cut(text: str, start: int, end: int) -> str:
    """``text[start:end]``, widened to whole words at both ends."""
    while start > 0 and _word_char(text[start - 1]):
        start -= 1
    while end < len(text) and _word_char(text[end]):
        end += 1
    return text[start:end]


def _own_kind(est: Establishment, name: str) -> NameForm:
    if name == est.name:
        return NameForm.NAME
    return NameForm.ALIAS if name in est.aliases else NameForm.LONG_NAME


# What the names part reads of an establishment: every field but those the other parts read and the contacts.
NAMING_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Establishment)
    if f.name not in {"networks", "asns", "domains", "software", "contacts"}
)
naming = attrgetter(*NAMING_FIELDS)
# More establishments edited than this, and a reload builds the matcher again: patching costs per edit.
_MOST_EDITED = 2_000


def _same_names(old: Establishment | None, new: Establishment) -> bool:
    return old is not None and naming(old) == naming(new)


def _positions(ests: Mapping[str, Establishment], wanted: Iterable[str]) -> dict[str, int]:
    """Where each of the ``wanted`` establishments stands in the registry's order: a search in C loops for each of
    a few, a walk for many."""
    ids = list(ests)
    wanted = set(wanted)
    if len(wanted) > 64:
        return {est_id: n for n, est_id in enumerate(ids) if est_id in wanted}
    return {est_id: ids.index(est_id) for est_id in wanted}


def _acronyms_of(ests: Iterable[Establishment]) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """The declared acronyms of the open establishments, each with its establishments in the registry's order,
    and their words."""
    acronyms: dict[str, list[str]] = defaultdict(list)
    for est in ests:
        if est.acronyms and not est.closed:
            for acronym in est.acronyms:
                acronyms[acronym.upper()].append(est.id)
    found = {a: tuple(ids) for a, ids in acronyms.items()}
    return found, frozenset(a.lower() for a in found)


def _mention(form: Form, written: str, ruling: NameRuling, place: str = "") -> Mention:
    return Mention(*_fields(form, written), ruling, place)


def _fields(form: Form, written: str) -> tuple[str, NameForm, str, str]:
    return form.establishment, form.kind, form.name, written


def _core(key: Key) -> Key:
    """A name's words but its generic ones (a saint stays: "Saint-Paul" is not "Paul")."""
    return tuple(w for w in key if w not in GENERIC_WORDS or w in _SAINTS)


def _find(words: Sequence[str], part: Key) -> int:
    """Where ``part`` first occurs as a run of ``words``; -1 when it does not."""
    n = len(part)
    if not n:
        return -1
    for i in range(len(words) - n + 1):
        if words[i] == part[0] and tuple(words[i : i + n]) == part:
            return i
    return -1


def _index_of(judged: _Text, tok: Token) -> int:
    """The index among the text's tokens of the first piece of a compared token."""
    for i in range(tok.last, -1, -1):
        if judged.toks[i].start <= tok.start:
            return i
    return 0


__all__ = ["Mention", "NameMatcher"]
