"""What a feed tells about an entry beyond its indicators: the facts an observation and its findings carry.

The facts a later stage reads (policy the CVSS score, render the malware, the port, KEV's due date...) are named,
typed fields of :class:`Facts`; whatever else a feed offers stays in ``extra`` under the feed's own key, kept
for the store and for the operator who reads it, read by no stage. Texts stay as the feed wrote them: the store,
the emails and the attachments show them unchanged, and a typed accessor reads the few that code compares.

Earlier versions kept all of this in one string mapping, ``attrs``; :meth:`Facts.to_json` writes that same
mapping (same keys, values and order) and :meth:`Facts.from_json` reads any one an earlier version stored.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from alertd.domain.codes import Evidence, VersionBasis


class Fact(enum.Enum):
    """The facts a later stage reads, each named by the key the store writes it under (and the catalogs label).

    A plain enum, not a string one: render's layout mixes facts with its own rows (a fact ``first_seen`` and the
    alert's ``first_seen``), and a fact must never pass for a row name.
    """

    MALWARE = "malware"
    PORT = "port"
    FIRST_SEEN = "first_seen"
    GROUP = "group"
    WEBSITE = "website"
    CVES = "cves"
    CVSS = "cvss"
    DATE_ADDED = "date_added"
    DUE_DATE = "due_date"
    REQUIRED_ACTION = "required_action"
    RANSOMWARE = "ransomware"
    NOTES = "notes"
    CWES = "cwes"
    CWE = "cwe"
    STATUS = "status"
    LAST_SEEN = "last_seen"
    SUMMARY = "summary"
    TOPIC = "topic"
    COUNTRY_CODE = "country_code"
    VERSION = "version"
    EVIDENCE = "evidence"  # these four are the version's: VersionFact.stored writes them
    EVIDENCE_BASIS = "evidence_basis"
    RANGE = "range"
    RANGE_SOURCE = "range_source"


_BY_KEY: Mapping[str, Fact] = {fact.value: fact for fact in Fact}
_VERSION = Fact.VERSION.value
# The facts a software finding's version is stored as (:meth:`VersionFact.stored`), read back together.
VERSION_FACTS = frozenset({Fact.VERSION, Fact.EVIDENCE, Fact.EVIDENCE_BASIS, Fact.RANGE, Fact.RANGE_SOURCE})
_VERSION_KEYS = frozenset(f.value for f in VERSION_FACTS)
NO_EXTRA: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class VersionFact:
    """The version a software finding concerns, and the evidence that it is affected.

    ``declared`` is the inventory's version (None when it declares none); ``evidence`` and ``basis`` say what the
    decision rests on (:class:`Evidence`, :class:`VersionBasis`); ``range`` is the published range it rests on,
    in the notation of :meth:`alertd.domain.values.VersionRange.text` (``>=13.1|<13.1-49.13``, ``*`` for every
    version), and ``source`` the feed that published it. :meth:`judged` builds one; :meth:`of` reads the version
    text an earlier version stored alone.
    """

    evidence: Evidence
    declared: str | None = None  # the inventory's version; None when it declares none
    basis: VersionBasis | None = None
    range: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.evidence is Evidence.DECLARED_VERSION and self.declared is None:
            raise ValueError("a declared-version fact needs the declared version")
        if self.evidence is Evidence.VERSION_UNKNOWN and self.declared is not None:
            raise ValueError("a version-unknown fact takes no declared version")

    @classmethod
    def declared_as(cls, version: str) -> VersionFact:
        """An earlier version's fact: the inventory declares ``version``, matched without evidence."""
        return cls(Evidence.DECLARED_VERSION, version)

    @classmethod
    def judged(
        cls,
        basis: VersionBasis,
        declared: str | None,
        range: str | None = None,
        source: str | None = None,
    ) -> VersionFact:
        """The fact of a version the matcher judged against the published ranges."""
        return _judged(basis, declared, range, source)

    @classmethod
    @functools.lru_cache(maxsize=65536)
    def of(cls, text: str) -> VersionFact:
        """The fact an earlier version stored as a version text alone (no evidence was recorded)."""
        if Evidence.of(text) is Evidence.VERSION_UNKNOWN:
            return UNKNOWN_VERSION
        return cls.declared_as(text)

    @property
    def text(self) -> str:
        """The version as stored and shown before words: the declared version, or the "version unknown" marker."""
        return self.declared if self.declared is not None else Evidence.VERSION_UNKNOWN.value

    @property
    def affected(self) -> bool:
        """Whether a published range contains the declared version (or, from an earlier version, it matched)."""
        return self.evidence in (Evidence.AFFECTED, Evidence.DECLARED_VERSION)

    @property
    def unverified(self) -> bool:
        """Whether the version was not checked: the reader must check it."""
        return self.evidence in (Evidence.UNVERIFIED, Evidence.VERSION_UNKNOWN)

    def stored(self) -> dict[str, str]:
        """The facts this version is stored as: the version text, then what the evidence rests on."""
        out = {_VERSION: self.text}
        if self.basis is not None:
            out[Fact.EVIDENCE.value] = self.evidence.value
            out[Fact.EVIDENCE_BASIS.value] = self.basis.value
        if self.range is not None:
            out[Fact.RANGE.value] = self.range
        if self.source is not None:
            out[Fact.RANGE_SOURCE.value] = self.source
        return out

    @classmethod
    def from_stored(cls, given: Mapping[str, str]) -> VersionFact:
        """The fact back from :meth:`stored`'s keys (only ``version`` for an earlier version's)."""
        text = given.get(_VERSION, Evidence.VERSION_UNKNOWN.value)
        try:
            basis = VersionBasis(given.get(Fact.EVIDENCE_BASIS.value, ""))
        except ValueError:  # none recorded (an earlier version), or not one of ours: the version text alone
            return cls.of(text)
        declared = None if text == Evidence.VERSION_UNKNOWN.value else text
        return _judged(basis, declared, given.get(Fact.RANGE.value), given.get(Fact.RANGE_SOURCE.value))


def _version_in_place(order: tuple[str, ...], stored: tuple[str, ...]) -> tuple[str, ...]:
    """``order`` with its version keys replaced by ``stored``, where the first of them was, else at the end."""
    out: list[str] = []
    placed = False
    for key in order:
        if key not in _VERSION_KEYS:
            out.append(key)
        elif not placed:
            out.extend(stored)
            placed = True
    if not placed:
        out.extend(stored)
    return tuple(out)


@functools.lru_cache(maxsize=65536)  # thousands of findings share a few hundred judgements
def _judged(basis: VersionBasis, declared: str | None, range_: str | None, source: str | None) -> VersionFact:
    return VersionFact(basis.evidence, declared, basis, range_, source)


UNKNOWN_VERSION = VersionFact(Evidence.VERSION_UNKNOWN)


@dataclass(frozen=True, slots=True)
class Facts:
    """The facts of an observation or a finding; None for a fact the feed does not give (``""`` if it gave it
    empty: the store keeps the difference).

    ``order`` is the keys as the feed gave them, which :meth:`to_json` keeps: the store's rows and the JSON
    attachment's details list them so. :meth:`of` sets it; built by keyword, facts leave it empty and come in the
    fields' own order, then ``extra``, then the version (the matcher adds it last). It takes no part in equality,
    as key order took none in the mapping of earlier versions.
    """

    malware: str | None = None  # the malware family a blocklist or a STIX indicator names
    port: str | None = None  # the port of a reported host or service
    first_seen: str | None = None  # when the source first saw it, as written when it does not read as a date
    group: str | None = None  # the ransomware group of a leak-site post
    website: str | None = None  # the victim's website a leak-site post claims
    cves: str | None = None  # the CVEs an advisory cites, comma-separated
    cvss: str | None = None  # the CVSS base score as the feed wrote it ("9.8"); :attr:`cvss_score` reads it
    date_added: str | None = None  # when CISA added the vulnerability to KEV
    due_date: str | None = None  # KEV's remediation deadline
    required_action: str | None = None  # KEV's required action
    ransomware: str | None = None  # KEV's known use in ransomware campaigns ("Known", "Unknown")
    notes: str | None = None  # KEV's notes, whose links render lists as references
    cwes: str | None = None  # KEV's weaknesses, comma-separated
    cwe: str | None = None  # NVD's or CSAF's weaknesses, comma-separated
    status: str | None = None  # a reported host's state at the source ("online", "offline"), as written
    last_seen: str | None = None  # when the source last saw it active, as written (Feodo's last_online)
    summary: str | None = None  # an advisory's own text (its summary or description), cleaned and cut
    topic: str | None = None  # what an advisory is about, as an AdvisoryTopic code ("phishing"), when known
    # The victim's country as an ISO 3166 alpha-2 code ("FR"), when a leak post or press report gives one: the
    # matcher compares it with the establishment's.
    country_code: str | None = None
    version: VersionFact | None = None  # a software finding's version, added by the matcher
    extra: Mapping[str, str] = field(default_factory=lambda: NO_EXTRA)  # what no later stage reads, by its key
    order: tuple[str, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.extra and any(key in _BY_KEY for key in self.extra):
            raise ValueError(f"extra facts {sorted(k for k in self.extra if k in _BY_KEY)} have fields of their own")

    @classmethod
    def of(cls, given: Mapping[Fact | str, str] | Mapping[str, str]) -> Facts:
        """Facts given by key, in the feed's order: a :class:`Fact` (or its key) fills its field, any other key
        goes to ``extra``. Parsers name the facts they know by :class:`Fact`; a CSV column's role and a stored
        row name them by key.
        """
        known: dict[str, Any] = {}
        extra: dict[str, str] = {}
        version: dict[str, str] = {}
        order: list[str] = []
        for key, text in given.items():
            fact = key if isinstance(key, Fact) else _BY_KEY.get(key)
            name = fact.value if fact is not None else str(key)
            if name not in known and name not in extra and name not in version:
                order.append(name)
            if fact is None:
                extra[name] = text
            elif fact in VERSION_FACTS:
                version[name] = text
            else:
                known[name] = text
        if not order:
            return NO_FACTS
        if version:
            known[_VERSION] = VersionFact.from_stored(version)
            order = list(_version_in_place(tuple(order), tuple(known[_VERSION].stored())))
        return cls(**known, extra=MappingProxyType(extra) if extra else NO_EXTRA)._ordered(tuple(order))

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Facts:
        """Facts back from :meth:`to_json`'s object, or from the ``attrs`` an earlier version stored (any keys)."""
        for key, text in stored.items():
            if not isinstance(text, str):
                raise ValueError(f"not a stored fact: {key!r}: {text!r}")
        return cls.of(stored)

    def to_json(self) -> dict[str, str]:
        """The facts as the store writes them: ``{key: text}`` in :attr:`order`, as earlier versions' ``attrs``."""
        return {key: self._text(key) for key in self.order or self._present()}

    def with_version(self, version: VersionFact) -> Facts:
        """These facts with a finding's version (the matcher's, added after the feed's facts)."""
        # Called once per version shown of each matched observation. Many observations carry no facts (an RSS
        # entry naming a product, a blocklist row): theirs are shared by version, the others built positionally.
        if self is NO_FACTS:
            return _version_only(version)
        facts = Facts(
            self.malware,
            self.port,
            self.first_seen,
            self.group,
            self.website,
            self.cves,
            self.cvss,
            self.date_added,
            self.due_date,
            self.required_action,
            self.ransomware,
            self.notes,
            self.cwes,
            self.cwe,
            self.status,
            self.last_seen,
            self.summary,
            self.topic,
            self.country_code,
            version,
            self.extra,
        )
        if self.order:
            facts._ordered(_version_in_place(self.order, tuple(version.stored())))
        return facts

    def get(self, fact: Fact) -> str | None:
        """The text of one fact, as stored and shown (a version as :attr:`VersionFact.text`); None when absent."""
        if fact in VERSION_FACTS:
            return self.version.stored().get(fact.value) if self.version is not None else None
        value: str | None = getattr(self, fact.value)
        return value

    def known(self) -> Iterator[tuple[Fact, str]]:
        """The facts a later stage reads that these hold, with their texts, in the order the feed gave them."""
        for key in self.order or self._present():
            fact = _BY_KEY.get(key)
            if fact is not None:
                text = self.get(fact)
                if text is not None:
                    yield fact, text

    @property
    def cvss_score(self) -> float | None:
        """The CVSS score as a number, read as Python's ``float`` reads text; None when the feed gave no score or
        wrote something that is not a number."""
        if self.cvss is None:
            return None
        try:
            return float(self.cvss)
        except ValueError:
            return None

    def _ordered(self, order: tuple[str, ...]) -> Facts:
        """Set :attr:`order`, once, as the constructors of this module do (it is no argument of ``__init__``, so
        it always lists exactly the keys held)."""
        object.__setattr__(self, "order", order)
        return self

    def _present(self) -> list[str]:
        """The keys these facts hold, in the fields' own order, then ``extra``, then the version."""
        keys = [fact.value for fact in Fact if fact not in VERSION_FACTS and self.get(fact) is not None]
        keys += self.extra
        if self.version is not None:
            keys += self.version.stored()
        return keys

    def _text(self, key: str) -> str:
        fact = _BY_KEY.get(key)
        text = self.get(fact) if fact is not None else self.extra.get(key)
        if text is None:
            raise KeyError(key)
        return text


NO_FACTS = Facts()


@functools.lru_cache(maxsize=65536)
def _version_only(version: VersionFact) -> Facts:
    """The facts of a finding whose observation has none: its version alone, one value per version."""
    return Facts(version=version)
