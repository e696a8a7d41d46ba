"""Vendor version strings compared the way vendors mean them, and NVD/CSAF version ranges checked against them.

No packaging scheme fits every vendor: PEP 440 (``packaging``) refuses ``13.1-49.13`` and ``2019 CU12``, and
semantic versioning refuses ``10.0.17763.1234``. A version is read here as a sequence of numbers and words,
in the manner of repology's libversion:

- numbers compare as numbers, and missing trailing parts count as zero (``7.2`` == ``7.2.0``);
- pre-release words (``alpha``, ``beta``, ``rc``, ``dev``, ``preview``, and words not known) sort before the
  release they precede (``7.2.0rc1`` < ``7.2.0``);
- post-release words (``cu``, ``sp``, ``patch``, ``update``, ``r``, ``build``, ``hotfix``, ``u``) and a single
  letter stuck to a number (OpenSSL's ``1.0.2k``) sort after the release and before the next number
  (``2019`` < ``2019 CU12`` < ``2019 CU13`` < ``2019.1``);
- "cumulative update" and "service pack" are ``cu`` and ``sp``; a leading ``v`` is dropped.

So ``13.1-49.13`` < ``13.1-51.15`` < ``14.1``, and ``22.7R2.3`` > ``22.7R2``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from alertd.domain.codes import Evidence
from alertd.domain.values import VersionRange

_PRE, _ZERO, _POST, _NUMBER = 0, 1, 2, 3
_Part = tuple[int, int, str]
_PAD: _Part = (_ZERO, 0, "")

_PRE_RANK = {
    "dev": 0,
    "snapshot": 0,
    "nightly": 0,
    "alpha": 1,
    "a": 1,
    "beta": 2,
    "b": 2,
    "pre": 3,
    "preview": 3,
    "c": 4,
    "rc": 4,
}
_POST_WORDS = frozenset(
    {
        "cu",
        "sp",
        "patch",
        "p",
        "pl",
        "post",
        "update",
        "u",
        "r",
        "rev",
        "build",
        "hotfix",
        "hf",
        "fix",
        "errata",
        "mr",
        "release",
        "ga",
    }
)
_SPELLED = (
    (re.compile(r"cumulative[\s_-]*update[\s_-]*"), " cu "),
    (re.compile(r"service[\s_-]*pack[\s_-]*"), " sp "),
    (re.compile(r"^v(?=\d)"), ""),
)
_PIECE = re.compile(r"[0-9]+|[a-z]+")


class Version:
    """A version string, comparable with another: ``Version("13.1-49.13") < Version("13.1-51.15")``."""

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._key = _key(text)

    @property
    def empty(self) -> bool:
        """True when the text holds no number and no word (``"*"``, ``""``): nothing to compare."""
        return not self._key

    def _cmp(self, other: Version) -> int:
        a, b = self._key, other._key
        width = max(len(a), len(b))
        a = a + (_PAD,) * (width - len(a))
        b = b + (_PAD,) * (width - len(b))
        return (a > b) - (a < b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._cmp(other) == 0

    def __hash__(self) -> int:
        key = self._key
        while key and key[-1] == _PAD:
            key = key[:-1]
        return hash(key)

    def __lt__(self, other: Version) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Version) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Version) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Version) -> bool:
        return self._cmp(other) >= 0

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _key(text: str) -> tuple[_Part, ...]:
    raw = text.strip().casefold()
    for pattern, replacement in _SPELLED:
        raw = pattern.sub(replacement, raw)
    parts: list[_Part] = []
    for m in _PIECE.finditer(raw):
        piece = m.group(0)
        if piece.isdigit():
            number = int(piece)
            parts.append((_NUMBER, number, "") if number else _PAD)
            continue
        after_digit = m.start() > 0 and raw[m.start() - 1].isdigit()
        before_digit = m.end() < len(raw) and raw[m.end()].isdigit()
        if after_digit and not before_digit and len(piece) == 1:
            parts.append((_POST, 0, piece))  # 1.0.2k: a letter release after 1.0.2
        elif piece in _POST_WORDS:
            parts.append((_POST, 0, piece))
        else:
            parts.append((_PRE, _PRE_RANK.get(piece, 0), piece))
    return tuple(parts)


@functools.lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """The version of ``text`` (cached: the same strings come back at every poll)."""
    return Version(text)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, the same as, or newer than ``b``."""
    return parse_version(a)._cmp(parse_version(b))


def _bound(text: str | None) -> Version | None:
    if text is None:
        return None
    version = parse_version(text)
    return None if version.empty else version


def in_range(version: str, rng: VersionRange) -> bool:
    """Whether ``version`` lies in ``rng`` (bounds that say nothing, like ``*``, are no bound)."""
    v = parse_version(version)
    exact = _bound(rng.exact)
    if exact is not None and v != exact:
        return False
    low = _bound(rng.start_including)
    if low is not None and v < low:
        return False
    low = _bound(rng.start_excluding)
    if low is not None and v <= low:
        return False
    high = _bound(rng.end_including)
    if high is not None and v > high:
        return False
    high = _bound(rng.end_excluding)
    return not (high is not None and v >= high)


def affected(version: str | None, ranges: Sequence[VersionRange]) -> str | None:
    """The version a finding shows, or None when ``version`` is outside every range.

    No version (or one with nothing to compare) matches, as :attr:`Evidence.VERSION_UNKNOWN`; no ranges means
    every version is affected.
    """
    if version is None:
        return Evidence.VERSION_UNKNOWN
    if not ranges:
        return version if not parse_version(version).empty else Evidence.VERSION_UNKNOWN
    return _affected(version, tuple(ranges))


@functools.lru_cache(maxsize=65536)
def _affected(version: str, ranges: tuple[VersionRange, ...]) -> str | None:
    # A CVE hits thousands of items sharing a few hundred version strings: decide each pair once.
    if parse_version(version).empty:
        return Evidence.VERSION_UNKNOWN
    return version if any(in_range(version, rng) for rng in ranges) else None
