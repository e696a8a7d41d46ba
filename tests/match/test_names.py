"""Names in leak-site posts and advisories: accents, case, punctuation, hyphens, St/Saint, word boundaries; and
the names too short, too generic or too shared to look for."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.domain.codes import NameProblem, UnsafeName
from alertd.domain.establishments import Establishment, Registry
from alertd.match.names import GENERIC_WORDS, PhraseIndex, unsafe_names, words_of
from alertd.match.normalise import tokens


def registry(*names: tuple[str, str, tuple[str, ...]]) -> Registry:
    ests = {i: Establishment(id=i, name=name, aliases=aliases) for i, name, aliases in names}
    return Registry(MappingProxyType(ests), ())


NAMES = PhraseIndex(
    (tokens(name), name)
    for name in (
        "Centre Hospitalier d'Arles",
        "Clinique Saint-Exupéry",
        "Hôpital Saint-Joseph de Marseille",
        "CHU de Bordeaux",
        "Groupe Hospitalier Sud Île-de-France",
        "Polyclinique Sainte-Marguerite",
        "Straße Klinikum",
        "Cœur de Vie",
    )
)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Victim: CENTRE HOSPITALIER D ARLES (France)", "Centre Hospitalier d'Arles"),
        ("Le centre hospitalier d’Arles a été attaqué", "Centre Hospitalier d'Arles"),
        ("centre-hospitalier-d-arles.zip: 40 GB leaked", "Centre Hospitalier d'Arles"),
        ("Clinique St-Exupery: data published", "Clinique Saint-Exupéry"),
        ("CLINIQUE SAINT EXUPÉRY", "Clinique Saint-Exupéry"),
        ("clinique st. exupery", "Clinique Saint-Exupéry"),
        ("l'Hopital St Joseph de Marseille", "Hôpital Saint-Joseph de Marseille"),
        ("HÔPITAL SAINT‑JOSEPH DE MARSEILLE", "Hôpital Saint-Joseph de Marseille"),  # non-breaking hyphen
        ("chu\u00a0de\u00a0bordeaux", "CHU de Bordeaux"),  # non-breaking spaces
        ("«CHU de Bordeaux»", "CHU de Bordeaux"),
        ("Groupe hospitalier Sud Ile de France", "Groupe Hospitalier Sud Île-de-France"),
        ("POLYCLINIQUE STE MARGUERITE", "Polyclinique Sainte-Marguerite"),
        ("Polyclinique Ste-Marguerite", "Polyclinique Sainte-Marguerite"),
        ("Strasse Klinikum", "Straße Klinikum"),
        ("coeur de vie", "Cœur de Vie"),
        ("Cœur de Vie", "Cœur de Vie"),
        ("Centre Hospitalier d'Arle\u0301s", "Centre Hospitalier d'Arles"),  # a decomposed accent is folded too
        ("Centre Hospitalier d'Arlesheim", None),  # word boundaries
        ("Centre Hospitalier d'Arles-sur-Tech", "Centre Hospitalier d'Arles"),  # a hyphen is a boundary
        ("XCHU de Bordeaux", None),
        ("CHU de Bordeauxville", None),
        ("CHU_de_Bordeaux", "CHU de Bordeaux"),
        ("Clinique Saint", None),
        ("", None),
    ],
)
def test_name_cases(text: str, found: str | None) -> None:
    names = [v for values in NAMES.scan(text).values() for v in values]
    assert names == ([found] if found else [])


def test_several_names_in_one_text_in_order_of_first_mention() -> None:
    text = "Après le CHU de Bordeaux, la clinique St Exupéry puis à nouveau le CHU de Bordeaux"
    assert [v for values in NAMES.scan(text).values() for v in values] == [
        "CHU de Bordeaux",
        "Clinique Saint-Exupéry",
    ]


def test_the_same_phrase_for_several_values() -> None:
    index = PhraseIndex([(("clinique", "du", "parc"), "a"), (("clinique", "du", "parc"), "b"), (("parc",), "c")])
    assert index.scan("La Clinique du Parc") == {("clinique", "du", "parc"): ("a", "b"), ("parc",): ("c",)}
    assert len(index) == 2


_WORDS = st.sampled_from(["clinique", "st", "saint", "arles", "de", "la", "h\u00f4pital", "hopital", "l\u2019", "x"])
_TEXTS = st.lists(st.one_of(_WORDS, st.text(max_size=4)), max_size=12).map(" ".join)


@given(
    st.lists(st.lists(_WORDS, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=6),
    st.lists(
        st.one_of(_WORDS, st.sampled_from([" ", "-", "'", "\u2019", "\u00a0", "\u0301", ".", "\u0152"])), max_size=20
    ).map("".join),
)
def test_scan_agrees_with_a_brute_force_search(phrases: list[str], text: str) -> None:
    index = PhraseIndex((tokens(p), p) for p in phrases)
    words = tokens(text)
    expected = {
        tokens(p)
        for p in phrases
        if tokens(p) and any(words[i : i + len(tokens(p))] == tokens(p) for i in range(len(words) - len(tokens(p)) + 1))
    }
    assert set(index.scan(text)) == expected


@given(_TEXTS)
def test_scanner_words_are_the_normalised_tokens(text: str) -> None:
    """Every phrase of the text's own tokens is found: the fast tokeniser agrees with :func:`tokens`."""
    words = tokens(text)
    if words:
        index = PhraseIndex([(words, "all")])
        assert index.scan(text) == {words: ("all",)}


# -- unsafe names --------------------------------------------------------------------------------------------


def test_unsafe_names() -> None:
    """Only names with nothing distinctive to look for are unsafe; a one-word name ("Inova") and a shared one
    ("Pharmacie de la Gare") are looked for, and count only with context (``name_evidence``)."""
    reg = registry(
        ("1", "CHU", ("Centre Hospitalier Universitaire", "CHU de Nantes")),
        ("2", "Clinique", ("Inova",)),
        ("3", "Pharmacie de la Gare", ()),
        ("4", "Pharmacie de la Gare", ("Pharmacie Martin-Lyon",)),
        ("5", "Clinique X", ("...",)),
        ("6", "Centre Hospitalier d'Arles", ("CH Arles",)),
        ("7", "XY", ()),
    )
    flagged = {(u.establishment, u.name): u for u in unsafe_names(reg)}
    assert set(flagged) == {
        ("1", "CHU"),
        ("1", "Centre Hospitalier Universitaire"),
        ("2", "Clinique"),
        ("5", "Clinique X"),
        ("5", "..."),
        ("7", "XY"),
    }
    assert flagged[("1", "CHU")].problem is NameProblem.GENERIC_ONLY
    assert flagged[("1", "Centre Hospitalier Universitaire")].problem is NameProblem.GENERIC_ONLY
    assert flagged[("5", "Clinique X")].problem is NameProblem.ONE_SHORT_DISTINCTIVE
    assert flagged[("5", "...")].problem is NameProblem.NO_LETTERS
    assert flagged[("7", "XY")] == UnsafeName("7", "XY", NameProblem.SHORT_WORD, words=("xy",))


def test_a_generic_name_abbreviated_to_one_short_word_is_generic() -> None:
    """FINESS's "HOPITAL DE JOUR" folds to "hj": ``alertd check`` files it as generic, not as a short word."""
    (unsafe,) = unsafe_names(registry(("1", "HOPITAL DE JOUR", ())))
    assert (unsafe.problem, unsafe.words) == (NameProblem.GENERIC_ONLY, ("hj",))


def test_generic_words_are_folded() -> None:
    assert all(word == "".join(tokens(word)) for word in GENERIC_WORDS)


def test_unsafe_names_are_not_matched() -> None:
    from alertd.domain.values import FeedKind, Observation
    from alertd.match.index import MatchIndex

    reg = registry(("1", "CHU", ("CHU de Nantes",)), ("2", "Pharmacie", ()))
    index = MatchIndex(reg, benign=None)
    obs = Observation("f", "e", FeedKind.LEAK, "t", text="Le CHU de Nantes et une pharmacie ont été attaqués")
    assert [(f.establishment, f.asset) for f in index.match([obs]).findings] == [("1", "CHU de Nantes")]


@given(_TEXTS)
def test_words_fold_into_the_normalised_tokens(text: str) -> None:
    assert words_of(text).tokens() == set(tokens(text))
