"""The codes that cross stages: why the matcher matched, which rule set a severity, what a version fact means.

Stages talk in codes; only render turns a code into words, in the reader's language (``alertd/render/locale``).
The values of the string enums are the texts earlier versions stored and printed, so the store, the JSON
attachments and ``alertd poll --dry-run`` keep their text.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class MatchReason(enum.StrEnum):
    """Why the matcher tied an indicator to an establishment: which kind of registry item it hit."""

    ADDRESS_IN_NETWORK = "address-in-network"  # an address in one of its networks
    NETWORK_OVERLAP = "network-overlap"  # a reported network overlapping one of its networks
    DOMAIN = "domain"  # a domain, URL or email address at or under one of its domains
    ASN = "asn"  # its autonomous system
    KEV_PRODUCT = "kev-product"  # a known-exploited vulnerability (KEV) of a product in its inventory
    CVE_PRODUCT = "cve-product"  # a vulnerability of a product in its inventory (NVD, CSAF)
    PRODUCT_MENTION = "product-mention"  # an advisory's text names a product in its inventory
    NAME_MENTION = "name-mention"  # a text names the establishment or one of its aliases


# Reasons whose asset is one of the establishment's networks or domains (shown defanged, like an indicator).
NETWORK_REASONS = frozenset({MatchReason.ADDRESS_IN_NETWORK, MatchReason.NETWORK_OVERLAP, MatchReason.DOMAIN})
# Reasons whose asset is a software item of the inventory (it carries a version fact).
SOFTWARE_REASONS = frozenset({MatchReason.KEV_PRODUCT, MatchReason.CVE_PRODUCT, MatchReason.PRODUCT_MENTION})


class Evidence(enum.StrEnum):
    """How sure a software finding is that the inventory's version is affected (``Finding.facts.version``).

    ``AFFECTED``: the declared version lies in a range a source published. ``UNVERIFIED``: the product matches but
    no range decides (none known, no version declared, a version that cannot be compared); the email says the
    version was not checked. ``NOT_AFFECTED``: outside every published range, or at or after a fixed version; it
    is never an alert. :class:`VersionBasis` says why.

    ``DECLARED_VERSION`` and ``VERSION_UNKNOWN`` are what earlier versions stored (a version matched without
    evidence, and the text stored in place of a version): read back, never made anew.
    """

    AFFECTED = "affected"
    UNVERIFIED = "unverified"
    NOT_AFFECTED = "not-affected"
    DECLARED_VERSION = "declared version"
    VERSION_UNKNOWN = "version unknown"

    @classmethod
    def of(cls, version: str) -> Evidence:
        """What a finding's version text means: a declared version, or the "version unknown" marker."""
        return cls.VERSION_UNKNOWN if version == cls.VERSION_UNKNOWN.value else cls.DECLARED_VERSION


class VersionBasis(enum.StrEnum):
    """Why a software finding has its :class:`Evidence`: what the decision rests on."""

    IN_RANGE = "in-range"  # affected: the version lies in a published range
    BEFORE_FIX = "before-fix"  # affected: older than a published fixed version of its line
    ALL_VERSIONS = "all-versions"  # affected: the source says every version is affected
    LISTED_AFFECTED = "listed-affected"  # affected: the source lists this very version as affected
    NO_RANGE = "no-range"  # unverified: no source gives the affected versions of this product
    NO_VERSION = "no-version"  # unverified: the inventory declares no version
    NOT_COMPARABLE = "not-comparable"  # unverified: the version cannot be compared with the published ranges
    PLATFORM = "platform"  # unverified: affected only on a platform the inventory does not declare
    FIXED_VERSION = "fixed-version"  # not affected: at or after a published fixed version
    OUTSIDE_RANGE = "outside-range"  # not affected: outside every published range
    LISTED_NOT_AFFECTED = "listed-not-affected"  # not affected: the source lists this version as not affected
    EDITION = "edition"  # not affected: the ranges concern another edition or platform of the product

    @property
    def evidence(self) -> Evidence:
        """The evidence level this basis gives."""
        return _BASIS_EVIDENCE[self]


_BASIS_EVIDENCE = {
    **dict.fromkeys(
        (VersionBasis.IN_RANGE, VersionBasis.BEFORE_FIX, VersionBasis.ALL_VERSIONS, VersionBasis.LISTED_AFFECTED),
        Evidence.AFFECTED,
    ),
    **dict.fromkeys(
        (VersionBasis.NO_RANGE, VersionBasis.NO_VERSION, VersionBasis.NOT_COMPARABLE, VersionBasis.PLATFORM),
        Evidence.UNVERIFIED,
    ),
    **dict.fromkeys(
        (
            VersionBasis.FIXED_VERSION,
            VersionBasis.OUTSIDE_RANGE,
            VersionBasis.LISTED_NOT_AFFECTED,
            VersionBasis.EDITION,
        ),
        Evidence.NOT_AFFECTED,
    ),
}


class RuleKind(enum.StrEnum):
    """The severity rules of contract §3, and ``UNKNOWN`` for a rule an earlier version stored as free text."""

    FEED_SEVERITY = "feed-severity"  # the feed's configured severity overrides the others
    COMPROMISE_REPORTED = "compromise-reported"
    LEAK_REPORTED = "leak-reported"
    EXPOSED_SERVICE = "exposed-service"
    KEV = "kev"  # a known-exploited vulnerability
    CVSS = "cvss"  # a CVSS score of 7 or more
    NO_HIGHER_RULE = "no-higher-rule"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class SeverityRule:
    """Which rule set an alert's severity, with its arguments: the feed for ``FEED_SEVERITY``, the score for
    ``CVSS``, the stored text for ``UNKNOWN``. Build one with the class methods; render words it.

    ``unverified`` says the rule's severity was lowered one level: the finding's version was not checked against
    a published range (:attr:`Evidence.UNVERIFIED`).
    """

    kind: RuleKind
    feed: str | None = None
    cvss: float | None = None
    text: str | None = None
    unverified: bool = False

    def __post_init__(self) -> None:
        wanted = {RuleKind.FEED_SEVERITY: "feed", RuleKind.CVSS: "cvss", RuleKind.UNKNOWN: "text"}.get(self.kind)
        given = [name for name in ("feed", "cvss", "text") if getattr(self, name) is not None]
        if given != ([wanted] if wanted else []):
            raise ValueError(f"a {self.kind} rule takes {wanted or 'no argument'}, not {', '.join(given) or 'none'}")

    @classmethod
    def of(cls, kind: RuleKind) -> SeverityRule:
        """A rule without arguments (all but ``FEED_SEVERITY``, ``CVSS`` and ``UNKNOWN``)."""
        return _made(kind, None)

    @classmethod
    def feed_severity(cls, feed: str) -> SeverityRule:
        """The feed ``feed`` sets the severity of all its findings."""
        return _made(RuleKind.FEED_SEVERITY, feed)

    @classmethod
    def cvss_at_least_7(cls, score: float) -> SeverityRule:
        """A CVSS score of 7 or more."""
        return cls(RuleKind.CVSS, cvss=score)

    @classmethod
    def unknown(cls, text: str) -> SeverityRule:
        """A rule known only by its text (an earlier version's, or a test's): shown as it is."""
        return cls(RuleKind.UNKNOWN, text=text)

    def to_json(self) -> dict[str, Any]:
        """The rule as a JSON object: ``{"kind": ...}`` and its argument, if it takes one."""
        stored: dict[str, Any] = {"kind": self.kind.value}
        for name in ("feed", "cvss", "text"):
            value = getattr(self, name)
            if value is not None:
                stored[name] = value
        if self.unverified:
            stored["unverified"] = True
        return stored

    def lowered(self) -> SeverityRule:
        """This rule, its severity lowered one level because the version was not checked."""
        return _lowered(self)

    @classmethod
    def from_json(cls, stored: object) -> SeverityRule:
        """A rule read back from :meth:`to_json`, or from the English sentence versions before codes stored."""
        if isinstance(stored, str):
            return _from_sentence(stored)
        if not isinstance(stored, Mapping):
            raise ValueError(f"not a stored severity rule: {stored!r}")
        cvss = stored.get("cvss")
        return cls(
            RuleKind(stored["kind"]),
            feed=stored.get("feed"),
            cvss=float(cvss) if cvss is not None else None,
            text=stored.get("text"),
            unverified=stored.get("unverified") is True,
        )


# Policy classifies every finding of a poll (half a million for a national what-if): the rules without a score are
# few and frozen, so each is made (and checked) once, not once per finding.
@functools.cache
def _made(kind: RuleKind, feed: str | None) -> SeverityRule:
    return SeverityRule(kind, feed=feed)


@functools.cache
def _lowered(rule: SeverityRule) -> SeverityRule:
    return replace(rule, unverified=True)


# How versions before codes stored each rule: English sentences, frozen here because old stores hold them.
_SENTENCES: tuple[tuple[re.Pattern[str], RuleKind], ...] = (
    (re.compile(r"^feed (\S+) severity$"), RuleKind.FEED_SEVERITY),
    (re.compile(r"^compromise reported$"), RuleKind.COMPROMISE_REPORTED),
    (re.compile(r"^leak reported$"), RuleKind.LEAK_REPORTED),
    (re.compile(r"^exposed vulnerable service$"), RuleKind.EXPOSED_SERVICE),
    (re.compile(r"^known exploited vulnerability \(KEV\)$"), RuleKind.KEV),
    (re.compile(r"^CVSS (\S+) >= 7$"), RuleKind.CVSS),
    (re.compile(r"^matched, no higher rule applies$"), RuleKind.NO_HIGHER_RULE),
)


def _from_sentence(text: str) -> SeverityRule:
    for pattern, kind in _SENTENCES:
        found = pattern.match(text)
        if found is None:
            continue
        if kind is RuleKind.FEED_SEVERITY:
            return SeverityRule.feed_severity(found.group(1))
        if kind is RuleKind.CVSS:
            try:
                return SeverityRule.cvss_at_least_7(float(found.group(1)))
            except ValueError:
                break
        return SeverityRule.of(kind)
    return SeverityRule.unknown(text)


class AlertKind(enum.StrEnum):
    """What an alert is about, finer than the feed's kind: the subject line's summary says it in words."""

    COMPROMISED_ADDRESS = "compromise:address"
    COMPROMISED_DOMAIN = "compromise:domain"
    MALICIOUS_URL = "compromise:url"
    COMPROMISED_EMAIL = "compromise:email"
    COMPROMISE = "compromise"
    EXPOSURE = "exposure"
    EXPLOITED_VULNERABILITY = "vulnerability:kev"
    VULNERABILITY = "vulnerability"
    ADVISORY = "advisory"
    LEAK = "leak"


class NameProblem(enum.StrEnum):
    """Why the matcher does not look for a name or alias of the registry in text (``alertd check`` says it)."""

    NO_LETTERS = "no-letters"  # nothing to match on
    GENERIC_ONLY = "generic-only"  # "Centre Hospitalier": it would match everywhere
    SHORT_WORD = "short-word"  # one word of fewer than 3 letters: it would match unrelated text
    ONE_SHORT_DISTINCTIVE = "one-short-distinctive"  # generic words and distinctive ones of fewer than 3 letters
    # Another establishment has the same name. No longer reported (the matcher tells them apart by the commune
    # named near the name); kept for what earlier versions reported.
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class UnsafeName:
    """A name or alias the matcher leaves out, with the code saying why and the words or ids the code is about."""

    establishment: str
    name: str
    problem: NameProblem
    words: tuple[str, ...] = ()  # the generic words, the short word, or the short distinctive words
    others: tuple[str, ...] = ()  # SHARED: the other establishments with this name


class NameForm(enum.StrEnum):
    """Which form of an establishment's name the matcher looks for in text (``alertd explain`` shows them)."""

    NAME = "name"  # the registered name (FINESS: the short name), as people write it (abbreviations both ways)
    ALIAS = "alias"  # an alias the operator declared
    LONG_NAME = "long-name"  # FINESS's long name
    CATEGORY_COMMUNE = "category-commune"  # its category and its commune: "Centre hospitalier d'Arles", "CHU Rennes"
    CATEGORY_NAME = "category-name"  # its category and its own name's words: "Hôpital Simone Veil"
    ACRONYM = "acronym"  # an acronym the operator declared ("CHSF"), in upper case, with context


class NameRuling(enum.StrEnum):
    """What the matcher made of one name form found in a text: a match, or why it was ruled out."""

    MATCHED = "matched"
    CONTAINED = "contained"  # a longer registered name around it was found: the longer one wins
    AMBIGUOUS = "ambiguous"  # several establishments have this name and nothing near it tells which
    OTHER_ESTABLISHMENT = "other-establishment"  # several have this name; the place near it is another one's
    OTHER_COUNTRY = "other-country"  # the post's country is not the establishment's
    OTHER_PLACE = "other-place"  # a different place is named next to it ("… de Beyrouth", "(Bruxelles)")
    LONGER_NAME = "longer-name"  # it runs on into more capitalised words: another name ("Hôpital Européen Georges-…")
    WEAK = "weak"  # one distinctive word or saints' and common words, without a category word or the commune
    NO_CONTEXT = "no-context"  # an acronym with no health word, commune or department near it


class AdvisoryTopic(enum.StrEnum):
    """What an advisory is about, when it calls for other steps than patching (the ``topic`` fact); an advisory
    of no known topic has none."""

    PHISHING = "phishing"  # a phishing or impersonation campaign: the steps are awareness, not patching

    @classmethod
    def of(cls, text: str | None) -> AdvisoryTopic | None:
        """The topic a stored ``topic`` fact names; None for none, or for a code this version does not know."""
        try:
            return cls(text) if text else None
        except ValueError:
            return None


class SourceStatus(enum.StrEnum):
    """A reported host's state at its source (the ``status`` fact, as a blocklist writes it: Feodo Tracker's
    ``c2_status`` is ``online`` or ``offline``): whether the source still sees it active."""

    ACTIVE = "active"
    INACTIVE = "inactive"

    @classmethod
    def of(cls, text: str | None) -> SourceStatus | None:
        """The state a source's status text says, case and surrounding space ignored; None for no text or words
        it does not know (the email then says nothing of the state, rather than guess)."""
        if not text:
            return None
        return _STATUS_WORDS.get(text.strip().casefold())


# The words sources use for a host's state, as found in the blocklists alertd reads (abuse.ch: online/offline;
# others: up/down, active/inactive).
_STATUS_WORDS: Mapping[str, SourceStatus] = {
    **dict.fromkeys(("online", "active", "up", "alive", "live"), SourceStatus.ACTIVE),
    **dict.fromkeys(("offline", "inactive", "down", "dead", "unreachable"), SourceStatus.INACTIVE),
}


class TextWarning(enum.StrEnum):
    """Something render found in a finding's feed text that the reader must be warned of: the email shows its
    words beside the alert, the attachments carry the code (``warnings``)."""

    # A host name with a label mixing scripts (Latin "ert-sante" behind a Cyrillic "с"), as written or once its
    # punycode is decoded: it may imitate a name the reader trusts (a homograph).
    MIXED_SCRIPT_HOST = "mixed-script-host"
