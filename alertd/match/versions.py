"""Vendor version strings compared the way vendors mean them, and knowing when they cannot be compared.

Use :func:`compare`, :func:`contains` and :func:`at_or_after`: each answers None when the versions cannot be
compared meaningfully, and a finding built on such an answer is ``unverified``, never ``affected`` (issue #11).

Four schemes are told apart by the text's shape; versions of two schemes are never ordered (None):

- **generic** (most vendors), read as numbers and words in the manner of repology's libversion: numbers compare
  as numbers and missing trailing parts count as zero (``7.2`` == ``7.2.0``); pre-release words (``dev`` <
  ``alpha`` < ``beta`` < ``pre``/``preview`` < ``rc``) sort before the release (``1.0.0-alpha`` <
  ``1.0.0-alpha.1`` < ``1.0.0-rc1`` < ``1.0.0``); post-release words (``cu``, ``sp``, Siemens' ``sr``,
  ``update``/``u``, ``patch``, ``r``, ``hotfix``...) and a letter stuck to a number (OpenSSL's ``1.0.2k``) sort
  after the release and before the next number (``2019`` < ``2019 CU12`` < ``2019.1``, ``MP8`` < ``MP8_SR4``).
  A word the scheme does not know, two different post-release words (``2019 SP1`` vs ``2019 CU12``) or a
  second pre-release word (semver's ``alpha.beta``) at the first difference gives None, not an alphabetical
  guess: ``MP8`` vs ``IP8`` (two product lines), ``V4.3.5016`` vs ``MP8``, ``1.2-foo`` vs ``1.2``. A build
  (``7.2.5 build1517``, semver's ``+meta``) is compared only when both versions name one (None otherwise).
- **Cisco IOS** ``15.2(2)E6`` (and ASA ``9.16(4)27``): ordered by the rebuild numbers within one release train
  (same major.minor and train letters); two trains (``15.2(2)E6`` vs ``15.2(4)M2``, ``15.0(2)SE`` vs
  ``15.2(2)E``) give None, and are never equal.
- **Cisco IOS XE 2.x/3.x** ``3.6.5bE``: ordered within one train (``3.6E``), None across trains.
- **RPM** (an epoch ``0:`` or a distribution tag ``.el7``): ``[name-][epoch:]version-release[.arch]`` compared as
  ``rpmvercmp`` does (epoch, then version, then release; ``~`` before the release, ``^`` after it); the package
  name and the architecture are not part of the version (identity tells packages apart). A Red Hat build is
  never ordered against an upstream version (backports make ``3.10.0`` meaningless): None.

A bound of a range that names no build covers every build of its release: ``7.2.6 build1575`` lies in
``<=7.2.6``, and carries a fix published as ``7.2.6``; a bound with a build against a version without one is
None (which build is it?).

Libraries weighed (issue #11 asks to prefer one): ``univers`` 32 (``GenericVersion``, ``RpmVersion``, semver,
pypi...) and ``packaging`` answer every comparison or raise: none can say "not comparable", and univers orders
``MP8`` after ``IP8`` and ``2019 SP1`` after ``2019 CU12`` alphabetically; PEP 440 refuses ``13.1-49.13``,
``2019 CU12`` and every Cisco version. ``libversion`` has no wheel (it needs the C library) and treats every
unknown word as a pre-release. ``rpmvercmp`` is forty lines written below rather than univers and its four
dependencies.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from typing import Any

from alertd.domain.codes import Evidence
from alertd.domain.values import VersionRange


class _Undecided(enum.Enum):
    """Why two versions have no order."""

    APART = "apart"  # certainly different versions with no order: two product lines, two trains
    UNSURE = "unsure"  # maybe the same version: two schemes, or a build named on one side only


_APART, _UNSURE = _Undecided.APART, _Undecided.UNSURE
_Outcome = int | _Undecided

# ---------------------------------------------------------------------------------------------- generic scheme
# A part is (kind, number or rank, word). Kinds at one position order PRE < ZERO < POST, LETTER < NUMBER; two
# different POST words, a POST and a LETTER, or a WORD (unknown) against anything else have no order.
_PRE, _ZERO, _POST, _LETTER, _NUMBER, _WORD = range(6)
_LEVEL = {_PRE: 0, _ZERO: 1, _POST: 2, _LETTER: 2, _NUMBER: 3}
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
# Post-release words, by the name they compare as (Java's ``8u191`` is ``8 update 191``).
_POST_WORDS = {
    "cu": "cu",
    "sp": "sp",
    "sr": "sr",  # Siemens service release: MP8_SR4
    "patch": "patch",
    "p": "patch",
    "pl": "patch",
    "post": "post",
    "update": "update",
    "upd": "update",
    "u": "update",
    "r": "r",  # Ivanti 22.7R2, Juniper
    "rev": "rev",
    "hotfix": "hotfix",
    "hf": "hotfix",
    "fix": "fix",
    "fp": "fp",
    "fixpack": "fp",
    "errata": "errata",
    "mr": "mr",
}
_KNOWN_WORDS = frozenset(_POST_WORDS) | frozenset(_PRE_RANK)
_NEUTRAL_WORDS = frozenset({"ga", "final", "release", "stable"})  # say nothing of the order: "7.2 GA" is 7.2
_SPELLED = (
    (re.compile(r"cumulative[\s_-]*update[\s_-]*"), " cu "),
    (re.compile(r"service[\s_-]*pack[\s_-]*"), " sp "),
    (re.compile(r"service[\s_-]*release[\s_-]*"), " sr "),
    (re.compile(r"fix[\s_-]*pack[\s_-]*"), " fp "),
    (re.compile(r"^v(?=\d)"), ""),
)
_PIECE = re.compile(r"[0-9]+|[a-z]+")
_BUILD = re.compile(r"\+|(?<![a-z])build(?![a-z])")  # what follows is a build: Fortinet's, semver's metadata


def _generic_parts(raw: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    seen_pre = False
    for m in _PIECE.finditer(raw):
        piece = m.group(0)
        if piece.isdigit():
            number = int(piece)
            parts.append((_NUMBER, number, "") if number else _PAD)
            continue
        after_digit = m.start() > 0 and raw[m.start() - 1].isdigit()
        before_digit = m.end() < len(raw) and raw[m.end()].isdigit()
        if after_digit and not before_digit and len(piece) == 1:
            parts.append((_LETTER, 0, piece))  # 1.0.2k: a letter release after 1.0.2
        elif piece in _POST_WORDS:
            parts.append((_POST, 0, _POST_WORDS[piece]))
        elif piece in _PRE_RANK and not seen_pre:
            parts.append((_PRE, _PRE_RANK[piece], ""))
            seen_pre = True
        elif piece in _NEUTRAL_WORDS or piece == "build":
            continue
        else:
            # Unknown, or a second pre-release word (semver orders "alpha.beta" after "alpha.1", libversion
            # before "alpha"): no order to claim.
            parts.append((_WORD, 0, piece))
    while parts and parts[-1] == _PAD:
        parts.pop()
    return tuple(parts)


def _part_cmp(x: _Part, y: _Part) -> _Outcome:
    if x == y:
        return 0
    kx, ky = x[0], y[0]
    if kx == _WORD or ky == _WORD or {kx, ky} == {_POST, _LETTER} or kx == ky == _POST:
        return _APART
    if kx == ky:
        return -1 if x < y else 1  # numbers, pre-release ranks, or OpenSSL's letters
    return -1 if _LEVEL[kx] < _LEVEL[ky] else 1


def _parts_cmp(a: tuple[_Part, ...], b: tuple[_Part, ...]) -> _Outcome:
    # Called for every (registry version, bound) pair of a poll: skip the equal head without a call per part.
    if a == b:
        return 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            return _part_cmp(x, y)
    for x in a[len(b) :]:  # the longer one goes on; the other counts as zeros
        if x != _PAD:
            return _part_cmp(x, _PAD)
    for y in b[len(a) :]:
        if y != _PAD:
            return _part_cmp(_PAD, y)
    return 0


# ------------------------------------------------------------------------------------------------- Cisco schemes
_IOS = re.compile(r"^(\d+)\.(\d+)\((\d+)([a-z]?)\)([a-z]*)(?:(\d+)([a-z]?))?$", re.IGNORECASE)
# IOS XE 2.x/3.x: the train letters are upper case (3.6.0aE: rebuild 0a of train 3.6E).
_IOS_XE = re.compile(r"^([23])\.(\d+)\.(\d+)([a-z]?)([A-Z]{1,3})$")

# ----------------------------------------------------------------------------------------------------- RPM scheme
_RPM_EPOCH = re.compile(r"^(?:(?P<name>[^\s:]+)-)?(?P<epoch>\d+):(?P<version>[^\s:-]+)(?:-(?P<release>[^\s:-]+))?$")
_RPM_DIST = re.compile(
    r"^(?P<version>[^\s:-]+)-(?P<release>[^\s:-]*\.(?:el|fc|amzn|mga|sles|module\+el)\d[^\s:-]*)$", re.IGNORECASE
)
_RPM_LINE = re.compile(r"\.(el|fc|amzn|sles|mga|module\+el)(\d+)", re.IGNORECASE)  # the distribution's tag
_RPM_ARCH = re.compile(r"\.(?:x86_64|noarch|src|i[3-6]86|aarch64|ppc64le|ppc64|s390x|armv7hl)$")
_RPM_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+|~|\^")
_RpmToken = tuple[int, int, str]  # (1, number, ""), (0, 0, letters), or a tilde or caret
_TILDE: _RpmToken = (-1, 0, "~")
_CARET: _RpmToken = (-2, 0, "^")


def _rpm_tokens(text: str) -> tuple[_RpmToken, ...]:
    tokens: list[_RpmToken] = []
    for m in _RPM_SEGMENT.finditer(text):
        piece = m.group(0)
        if piece == "~":
            tokens.append(_TILDE)
        elif piece == "^":
            tokens.append(_CARET)
        elif piece.isdigit():
            tokens.append((1, int(piece), ""))
        else:
            tokens.append((0, 0, piece))
    return tuple(tokens)


def _rpm_cmp(a: tuple[_RpmToken, ...], b: tuple[_RpmToken, ...]) -> int:
    """rpm's ``rpmvercmp`` on segments: a tilde sorts before anything, even the end; a caret after the end and
    before anything else; a number after letters; numbers as numbers, letters as ``strcmp``."""
    i = 0
    while True:
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x == _TILDE or y == _TILDE:
            if x != _TILDE:
                return 1
            if y != _TILDE:
                return -1
        elif x == _CARET or y == _CARET:
            if x is None:
                return -1
            if y is None:
                return 1
            if x != _CARET:
                return 1
            if y != _CARET:
                return -1
        elif x is None or y is None:
            return 0 if x is y else (-1 if x is None else 1)
        elif x != y:
            if x[0] != y[0]:
                return 1 if x[0] == 1 else -1
            return -1 if x < y else 1
        i += 1


# ------------------------------------------------------------------------------------------------------ versions
_GENERIC, _CISCO_IOS, _CISCO_IOS_XE, _RPM = "generic", "cisco-ios", "cisco-ios-xe", "rpm"


class Version:
    """A version string read in its scheme: ``Version("13.1-49.13") < Version("13.1-51.15")``.

    Prefer :func:`compare`: the operators say False both ways for versions that cannot be compared.
    """

    __slots__ = ("_build", "_line", "_numbers", "_order", "empty", "scheme", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._line: object = None  # two versions of different lines (Cisco trains) have no order
        # Parts of the scheme's own kind (generic parts, rpm segments, Cisco numbers): ``scheme`` says which.
        self._build: tuple[Any, ...] | None = None  # a build or rpm release: compared when both name one
        self._order: tuple[Any, ...]
        self.scheme = _read(self, text.strip())
        # Numbers only (most registry versions and bounds): compared as a tuple of ints, without a call per part.
        self._numbers: tuple[int, ...] | None = None
        if self.scheme == _GENERIC and self._build is None and all(p[0] in (_NUMBER, _ZERO) for p in self._order):
            self._numbers = tuple(number for _, number, _ in self._order)
        # No number and no word (``"*"``, ``""``, ``"-"``): nothing to compare. ("0" is all zeros, not empty.)
        self.empty = not any(c.isalnum() for c in text)

    @property
    def _key(self) -> tuple[object, ...]:
        return (self.scheme, self._line, self._order, self._build)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: Version) -> bool:
        return _cmp(self, other) == -1

    def __le__(self, other: Version) -> bool:
        return _cmp(self, other) in (-1, 0)

    def __gt__(self, other: Version) -> bool:
        return _cmp(self, other) == 1

    def __ge__(self, other: Version) -> bool:
        return _cmp(self, other) in (0, 1)

    def __repr__(self) -> str:
        return f"Version({self.text!r})"


def _read(v: Version, text: str) -> str:
    """Fill ``v`` from ``text`` in the first scheme whose shape it has; return the scheme."""
    unescaped = text.replace("\\", "")  # a CPE writes 15.2\(2\)e6
    if m := _IOS.match(unescaped):
        major, minor, maint, maint_letter, train, rebuild, rebuild_letter = m.groups()
        v._line = (int(major), int(minor), train.upper())
        v._order = (int(maint), maint_letter.lower(), int(rebuild or 0), (rebuild_letter or "").lower())
        return _CISCO_IOS
    if (m := _IOS_XE.match(text)) and m.group(5).casefold() not in _KNOWN_WORDS:
        major, minor, rebuild, letter, train = m.groups()
        v._line = (int(major), int(minor), train)
        v._order = (int(rebuild), letter)
        return _CISCO_IOS_XE
    if m := (_RPM_EPOCH.match(text) or _RPM_DIST.match(text)):
        fields = m.groupdict()  # the package name, if given, is identity's business, not the version's
        v._order = (int(fields.get("epoch") or 0), _rpm_tokens(fields["version"]))
        release = fields["release"]
        v._build = _rpm_tokens(_RPM_ARCH.sub("", release)) if release else None
        # A distribution's builds form a line of their own: RHEL 9's fix (.el9_2) says nothing of RHEL 8's builds.
        dist = _RPM_LINE.search(release or "")
        v._line = (dist.group(1).lower(), int(dist.group(2))) if dist else None
        return _RPM
    raw = text.casefold()
    for pattern, replacement in _SPELLED:
        raw = pattern.sub(replacement, raw)
    main, *build = _BUILD.split(raw, maxsplit=1)
    v._order = _generic_parts(main)
    build_parts = _generic_parts(build[0]) if build else ()
    if not v._order:
        v._order = build_parts  # "Build 17763": the build is the version
    elif build_parts:
        v._build = build_parts
    return _GENERIC


def _cmp(a: Version, b: Version, *, bound: bool = False) -> _Outcome:
    """-1, 0, 1, or why there is no order. With ``bound``, ``b`` is a range's bound or a fixed version: one that
    names no build stands for every build of its release."""
    if a._numbers is not None and b._numbers is not None:
        return (a._numbers > b._numbers) - (a._numbers < b._numbers)  # trailing zeros are stripped: 7.2 == 7.2.0
    if a.scheme != b.scheme:
        # A Red Hat build may be the upstream release it packages; a Cisco version is never a generic one.
        return _UNSURE if _RPM in (a.scheme, b.scheme) else _APART
    if a._line != b._line and not (a.scheme == _RPM and (a._line is None or b._line is None)):
        return _APART
    found = _parts_cmp(a._order, b._order) if a.scheme == _GENERIC else _order_cmp(a.scheme, a._order, b._order)
    if found != 0:
        return found
    if a._build is None and b._build is None:
        return 0
    if b._build is None and bound:
        return 0
    if a._build is None or b._build is None:
        return _UNSURE
    if a.scheme == _RPM:
        return _rpm_cmp(a._build, b._build)
    return _parts_cmp(a._build, b._build)


def _order_cmp(scheme: str, a: tuple[Any, ...], b: tuple[Any, ...]) -> _Outcome:
    """The order of two Cisco or rpm versions of one line (generic ones go to :func:`_parts_cmp`)."""
    if scheme == _RPM:
        if a[0] != b[0]:  # the epoch
            return -1 if a[0] < b[0] else 1
        return _rpm_cmp(a[1], b[1])
    return (a > b) - (a < b)  # Cisco: numbers and letters within one train


@functools.lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """The version of ``text`` (cached: the same strings come back at every poll)."""
    return Version(text)


def compare(a: str, b: str) -> int | None:
    """-1, 0 or 1 as version ``a`` is older than, the same as, or newer than ``b``; None when the two cannot be
    compared meaningfully (two product lines or trains, a word the scheme does not know, nothing to compare)."""
    va, vb = parse_version(a), parse_version(b)
    if va.empty or vb.empty:
        return None
    found = _cmp(va, vb)
    return None if isinstance(found, _Undecided) else found


# What the comparison of the version with each bound must give for the version to lie in the range.
_EXACT = frozenset({0})
_HOLDS = (_EXACT, frozenset({0, 1}), frozenset({1}), frozenset({-1, 0}), frozenset({-1}))


@functools.lru_cache(maxsize=65536)
def contains(version: str, rng: VersionRange) -> bool | None:
    """Whether ``version`` lies in ``rng``; None when a bound it needs cannot be compared with it (a range
    ``<IP8`` says nothing about ``MP8``). Bounds that say nothing (``*``, ``-``) are no bound; ``exact`` is
    equality (``7.2`` is ``7.2.0``, and ``7.2.5 build1517`` is ``7.2.5``)."""
    v = parse_version(version)
    if v.empty:
        return None
    unsure = False
    texts = (rng.exact, rng.start_including, rng.start_excluding, rng.end_including, rng.end_excluding)
    for text, holds in zip(texts, _HOLDS, strict=True):
        if text is None or (bound := parse_version(text)).empty:
            continue
        found = _cmp(v, bound, bound=True)
        if isinstance(found, _Undecided):
            if holds is _EXACT and found is _APART:
                return False  # certainly another version
            unsure = True
        elif found not in holds:
            return False  # outside a bound it can be compared with: outside, whatever the others say
    return None if unsure else True


def at_or_after(version: str, fixed: str) -> bool | None:
    """Whether ``version`` carries the fix published as ``fixed``: the same release line, the same or later;
    None when the two cannot be compared (another train, another product line, nothing to compare)."""
    v, f = parse_version(version), parse_version(fixed)
    if v.empty or f.empty:
        return None
    found = _cmp(v, f, bound=True)
    return None if isinstance(found, _Undecided) else found >= 0


def in_range(version: str, rng: VersionRange) -> bool:
    """Whether ``version`` certainly lies in ``rng`` (earlier callers; prefer :func:`contains`)."""
    return contains(version, rng) is True


def affected(version: str | None, ranges: Sequence[VersionRange]) -> str | None:
    """The version a finding shows, or None when ``version`` is outside every range (earlier callers; prefer
    :func:`contains` and :class:`alertd.domain.codes.Evidence`).

    No version, one with nothing to compare, or one no range can be compared with matches as
    :attr:`Evidence.VERSION_UNKNOWN` (never as its version: it was not checked); no ranges means every version.
    """
    if version is None:
        return Evidence.VERSION_UNKNOWN
    if not ranges:
        return version if not parse_version(version).empty else Evidence.VERSION_UNKNOWN
    return _affected(version, tuple(ranges))


@functools.lru_cache(maxsize=65536)
def _affected(version: str, ranges: tuple[VersionRange, ...]) -> str | None:
    # A CVE hits thousands of items sharing a few hundred version strings: decide each pair once.
    answers = {contains(version, rng) for rng in ranges}
    if True in answers:
        return version
    return Evidence.VERSION_UNKNOWN if None in answers else None
