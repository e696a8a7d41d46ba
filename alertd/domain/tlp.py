"""Traffic Light Protocol markings (FIRST TLP 2.0): what recipients may do with what an email tells them.

The markings are ordered, least restrictive first: an email about several alerts carries the strictest of their
markings, and a marking alertd cannot read counts as the strictest, ``RED`` (fail closed: telling too few people
is recoverable, telling too many is not).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

# How other sources spell a marking: TLP 1.0's WHITE became CLEAR in TLP 2.0, and a label without "+".
_ALIASES = {"white": "clear", "amber-strict": "amber+strict"}


class Tlp(enum.StrEnum):
    """A TLP marking, least restrictive first; the values are what config accepts and the store holds.

    Markings compare by how restrictive they are (``Tlp.GREEN < Tlp.AMBER``), never as text, and not with a
    string: read one with :meth:`parse` first.
    """

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @classmethod
    def parse(cls, text: str) -> Tlp:
        """A marking as config, a feed or an earlier version's store writes it (``amber``, ``TLP:WHITE``,
        ``amber-strict``); anything else is ``RED`` (fail closed)."""
        name = text.strip().lower().removeprefix("tlp:")
        try:
            return cls(_ALIASES.get(name, name))
        except ValueError:
            return cls.RED

    @classmethod
    def strictest(cls, markings: Iterable[Tlp]) -> Tlp:
        """The strictest of some markings: the one an email about all of them carries; none is ``AMBER``."""
        return max(markings, default=DEFAULT_TLP)

    @property
    def label(self) -> str:
        """The marking as the email shows it (``TLP:AMBER+STRICT``)."""
        return f"TLP:{self.value.upper()}"

    @property
    def rank(self) -> int:
        """How restrictive the marking is: 0 for ``CLEAR`` up to 4 for ``RED``."""
        return _RANKS[self]

    # A StrEnum would compare as text ("clear" > "amber"): compare by rank, and refuse a bare string rather
    # than fall back to the text order.
    def __lt__(self, other: object) -> bool:
        return self.rank < _rank_of(other)

    def __le__(self, other: object) -> bool:
        return self.rank <= _rank_of(other)

    def __gt__(self, other: object) -> bool:
        return self.rank > _rank_of(other)

    def __ge__(self, other: object) -> bool:
        return self.rank >= _rank_of(other)


DEFAULT_TLP = Tlp.AMBER  # alertd.yaml's default, and so every feed's unless it says otherwise
_RANKS = {marking: rank for rank, marking in enumerate(Tlp)}


def _rank_of(other: object) -> int:
    if not isinstance(other, Tlp):
        raise TypeError(f"a TLP marking compares with another marking, not {type(other).__name__} {other!r}")
    return _RANKS[other]
