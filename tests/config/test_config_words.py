"""What alertd check says about allowlist values and names the matcher leaves out: codes from match, words here."""

from __future__ import annotations

import pytest

from alertd.config.checks import unsafe_why as _unsafe_why
from alertd.config.files import allowlist_entry_problem
from alertd.domain.codes import NameProblem, UnsafeName


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "may not be empty"),
        ("   ", "may not be empty"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("300.1.1.1/24", "bad network"),
    ],
)
def test_allowlist_entry_problems(value: str, problem: str) -> None:
    found = allowlist_entry_problem(value)
    assert found is not None and problem in found


def test_usable_allowlist_values_have_no_problem() -> None:
    assert allowlist_entry_problem("1.2.3.0/24") is None
    assert allowlist_entry_problem("https://a.example/x/y") is None


@pytest.mark.parametrize(
    ("unsafe", "words"),
    [
        (UnsafeName("1", "CHU", NameProblem.GENERIC_ONLY, words=("chu",)), "only of generic words (chu)"),
        (UnsafeName("2", "XY", NameProblem.SHORT_WORD, words=("xy",)), "fewer than 3 letters ('xy')"),
        (UnsafeName("3", "Gare", NameProblem.SHARED, others=("4",)), "also a name or alias of establishment 4"),
        (UnsafeName("3", "Gare", NameProblem.SHARED, others=("4", "5", "6", "7")), "4, 5, 6 and 1 more"),
        (UnsafeName("5", "Clinique X", NameProblem.ONE_SHORT_DISTINCTIVE, words=("x",)), "one short distinctive word"),
        (UnsafeName("5", "...", NameProblem.NO_LETTERS), "no letter or digit"),
    ],
)
def test_each_name_problem_has_its_words(unsafe: UnsafeName, words: str) -> None:
    assert words in _unsafe_why(unsafe)


def test_every_name_problem_is_worded() -> None:
    for problem in NameProblem:
        assert _unsafe_why(UnsafeName("1", "n", problem, words=("w",), others=("2",)))
