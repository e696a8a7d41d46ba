"""TLP markings: ordered by how restrictive they are, read from every spelling alertd meets, failing closed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.domain.tlp import DEFAULT_TLP, Tlp


def test_the_markings_keep_the_text_config_accepts_and_stores_hold() -> None:
    assert [str(t) for t in Tlp] == ["clear", "green", "amber", "amber+strict", "red"]
    assert json.dumps({"tlp": Tlp.AMBER_STRICT}) == '{"tlp": "amber+strict"}'
    assert DEFAULT_TLP is Tlp.AMBER


def test_markings_are_ordered_least_restrictive_first_not_as_text() -> None:
    assert Tlp.CLEAR < Tlp.GREEN < Tlp.AMBER < Tlp.AMBER_STRICT < Tlp.RED
    assert Tlp.RED > Tlp.CLEAR and Tlp.AMBER >= Tlp.AMBER and Tlp.GREEN <= Tlp.AMBER
    assert not Tlp.CLEAR > Tlp.AMBER  # as text, "clear" > "amber"
    assert sorted([Tlp.RED, Tlp.CLEAR, Tlp.AMBER_STRICT, Tlp.GREEN, Tlp.AMBER]) == list(Tlp)
    assert [t.rank for t in Tlp] == [0, 1, 2, 3, 4]


def test_a_marking_does_not_compare_with_a_string() -> None:
    # As text "clear" < "amber" is false and "amber" < "clear" true: a string is read with Tlp.parse first.
    with pytest.raises(TypeError):
        assert Tlp.CLEAR < "red"
    with pytest.raises(TypeError):
        assert "red" > Tlp.CLEAR  # noqa: SIM300 - the string on the left is the case tested
    with pytest.raises(TypeError):
        assert max(["amber", Tlp.RED])


@pytest.mark.parametrize(
    ("text", "marking"),
    [
        # What config accepts.
        ("clear", Tlp.CLEAR),
        ("green", Tlp.GREEN),
        ("amber", Tlp.AMBER),
        ("amber+strict", Tlp.AMBER_STRICT),
        ("red", Tlp.RED),
        # What feeds write: a "tlp:" prefix, any case, TLP 1.0's WHITE, a strict amber without "+".
        ("TLP:AMBER", Tlp.AMBER),
        (" tlp:green ", Tlp.GREEN),
        ("TLP:WHITE", Tlp.CLEAR),
        ("white", Tlp.CLEAR),
        ("amber-strict", Tlp.AMBER_STRICT),
        ("TLP:AMBER+STRICT", Tlp.AMBER_STRICT),
        # Anything else is the strictest (fail closed).
        ("something-odd", Tlp.RED),
        ("", Tlp.RED),
        ("tlp:", Tlp.RED),
        ("amber strict", Tlp.RED),
        ("TLP:EX:CHR", Tlp.RED),
    ],
)
def test_parse_reads_config_feed_and_store_spellings(text: str, marking: Tlp) -> None:
    assert Tlp.parse(text) is marking


@given(st.text(max_size=20))
def test_parse_never_fails_and_only_known_spellings_read_below_red(text: str) -> None:
    marking = Tlp.parse(text)
    name = text.strip().lower().removeprefix("tlp:")
    assert marking is Tlp.RED or name in {str(t) for t in Tlp} | {"white", "amber-strict"}


def test_labels() -> None:
    assert [t.label for t in Tlp] == ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"]


def test_the_strictest_of_several_markings() -> None:
    assert Tlp.strictest([Tlp.CLEAR, Tlp.GREEN]) is Tlp.GREEN
    assert Tlp.strictest([Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.GREEN]) is Tlp.AMBER_STRICT
    assert Tlp.strictest([Tlp.RED, Tlp.CLEAR]) is Tlp.RED
    assert Tlp.strictest(iter([Tlp.GREEN])) is Tlp.GREEN  # any iterable, read once
    assert Tlp.strictest([]) is Tlp.AMBER  # nothing to go by: the default marking
    # Read from the spellings feeds and old stores hold: an unknown one makes the whole email RED.
    assert Tlp.strictest(Tlp.parse(m) for m in ["TLP:WHITE"]) is Tlp.CLEAR
    assert Tlp.strictest(Tlp.parse(m) for m in ["clear", "something-odd"]) is Tlp.RED


@given(st.lists(st.sampled_from(Tlp), min_size=1))
def test_the_strictest_is_one_of_them_and_none_is_stricter(markings: list[Tlp]) -> None:
    strictest = Tlp.strictest(markings)
    assert strictest in markings
    assert all(m.rank <= strictest.rank for m in markings)
