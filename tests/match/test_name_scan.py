"""Where a long text is read for names: the quick looks before any token is made (the words a text can give, the
windows where all the words of a name are written together) find every name the tokens find, and cut words as
the regular expression did."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.domain.establishments import Establishment, Finess, Registry
from alertd.match.name_evidence import NameMatcher, _inside_longer
from alertd.match.name_forms import SEPARATORS, abbreviated, compared_words, core_tokens, dotted_words, text_tokens
from alertd.match.names import words_of

# Prose long enough that only the parts around a name are read (more than twice 200 characters).
FILLER = "le groupe revendique une attaque et publie des fichiers de sauvegarde volés sur son site " * 6


def matcher(*ests: Establishment) -> NameMatcher:
    return NameMatcher(Registry(MappingProxyType({e.id: e for e in ests}), ()))


def est(est_id: str, name: str, category: str = "", city: str = "") -> Establishment:
    return Establishment(id=est_id, name=name, category=category, city=city, finess=Finess(est_id, ej="1"))


M = matcher(
    est("130002827", "CH JOSEPH IMBERT D'ARLES", "355", "ARLES"),
    est("350005179", "CHRU RENNES SITE PONTCHAILLOU", "101", "RENNES"),
    est("750000001", "PHARMACIE DE LA SAUVEGARDE", "620", "PARIS"),
    est("880007299", "EPSM DES VOSGES", "292", "EPINAL"),
)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("Centre Hospitalier d'Arles", "130002827"),
        ("C.H.U. de Rennes", "350005179"),
        ("centre hospitalier universitaire de Rennes", "350005179"),
        ("Pharmacie de la Sauvegarde", "750000001"),
        ("Etablissement public de santé mentale des Vosges", "880007299"),
    ],
)
def test_a_name_in_a_long_text_is_found_as_in_a_short_one(written: str, expected: str) -> None:
    assert [m.establishment for m in M.matched(written)] == [expected]
    assert [m.establishment for m in M.matched(f"{FILLER}{written}. {FILLER}")] == [expected]


def test_words_of_a_name_apart_in_a_long_text_are_no_mention() -> None:
    # "pharmacie" and "sauvegarde" are both in the text, never in a row.
    text = f"{FILLER} la pharmacie de garde ferme. {FILLER}"
    assert M.find(text) == []


def test_dotted_initials_are_words_a_text_can_give() -> None:
    text = "Le C.H.U. de Rennes, version 8.0.1, e.g. x.y; ab.c n'en est pas"
    assert dotted_words(text) == {"chu", "801", "eg", "xy"}
    assert dotted_words(text) <= {t.word for t in text_tokens(text)}


def test_runs_of_words_give_their_abbreviation() -> None:
    assert abbreviated({"centre", "hospitalier", "universitaire", "clin"}, set()) == {"ch", "chu", "clinique"}
    assert compared_words(("centre", "hospitalier", "d", "arles")) == ("ch", "arles")


_TEXT = st.text(alphabet=st.sampled_from("abcDE09 .,'-\u2019é\u00a0\t\nÔß"), max_size=80)


@given(_TEXT)
def test_words_are_cut_as_the_regular_expression_cut_them(text: str) -> None:
    low = text.lower()
    for ch in SEPARATORS:
        low = low.replace(ch, " ")
    assert words_of(text).words == re.findall(r"[a-z0-9\u0080-\U0010ffff]+", low)


@given(_TEXT)
def test_the_words_a_text_can_give_hold_its_compared_words(text: str) -> None:
    words = words_of(text)
    more = dotted_words(text).union(*words.special.values())
    more |= abbreviated(words.vocab, more)
    assert {t.word for t in core_tokens(text_tokens(text))} <= words.vocab | more


def test_names_inside_longer_ones_found_in_one_sweep() -> None:
    # (start, end) of names in a text: the one sweep must agree with comparing every name with every other.
    spans = {(0, 3), (1, 2), (0, 1), (2, 5), (3, 5), (3, 4), (6, 7), (6, 7 + 1), (9, 10)}
    slow = {(s, e) for s, e in spans if any(a <= s and e <= b and b - a > e - s for a, b in spans)}
    assert _inside_longer(spans) == slow == {(1, 2), (0, 1), (3, 5), (3, 4), (6, 7)}


@pytest.mark.parametrize(
    "padding",
    [
        # One region of names longer than the 20,000 characters a text is read for (a padded post, a weekly list).
        "Pharmacie de la Sauvegarde. " * 800,
        "CHU de Rennes, " * 1500,
        "İstanbul " * 3000,  # a character whose lower case is longer: positions in the text drift
    ],
)
def test_a_name_after_a_long_run_of_other_words_is_still_read(padding: str) -> None:
    text = padding + "Centre Hospitalier d'Arles"
    assert len(text) > 20_000
    assert "130002827" in [m.establishment for m in M.matched(text)]
