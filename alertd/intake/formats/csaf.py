"""CSAF 2.0 advisories (format ``csaf``): one observation per vulnerability, with every product it names and what
it says of each (affected, fixed, not affected).

A CSAF document names its products once, in ``product_tree`` (branches vendor → product name → version or
version range, plus ``full_product_names`` and ``relationships``), and each vulnerability refers to them by
``product_id`` in its ``product_status``. :func:`parse` resolves those ids to vendor, product and version
bounds: the innermost version-bearing branch wins (``service_pack`` and ``patch_level`` under a
``product_version`` train, as Cisco writes ``15.2E`` → ``15.2(2)E6``), a ``product_version_range`` is read in the
``vers:`` syntax or as ``<=4.2``-style text, and a package build written ``name-epoch:version`` (Red Hat) is the
package ``name`` at ``version``, or what its ``purl`` says.

``vers:`` ranges are read here rather than by ``univers`` (the vers reference implementation): univers refuses
vendor versions that are not semver under ``vers:generic`` (Siemens ``IP8``, ``MP8_SR4``) and rewrites the others
(``V4.3.5618`` → ``4.3.5618``, ``1.0`` → ``1.0.0``), while the matcher needs the versions as the vendor wrote them.

A CSAF provider publishes its documents in a directory with an ``index.txt`` (or ``changes.csv``) and in ROLIE
feeds; :func:`expand` (:mod:`~alertd.intake.formats.csaf_index`) turns either into the list of document URLs to fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from packageurl import PackageURL

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.grammar import CVE_ID
from alertd.domain.tlp import Tlp
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, ProductStatus, VersionRange
from alertd.intake import topics
from alertd.intake.formats import fields
from alertd.intake.formats.csaf_index import MAX_DOCUMENTS, expand
from alertd.intake.formats.jsondoc import load_json, utc_timestamp
from alertd.intake.formats.nvd import cpe_fields, split_cpe

MAX_TEXT = 4000  # characters of observation text
MAX_REMEDIATION = 1000
MAX_FIELD = fields.MAX_FIELD  # characters kept of a name, a title, a vector, a label
MAX_URL = fields.MAX_URL
MAX_VERSION = 200
MAX_DEPTH = 32  # of product tree branches; real trees use three to five levels
# What each product_status list says of its products' versions (CSAF 2.0 §3.2.3.9). ``first_affected`` and
# ``last_affected`` name the first and last affected version of a release line (:func:`_within_line` reads a
# plain dotted one as the range it bounds in its line). ``recommended`` versions carry a fix too.
# ``under_investigation`` says nothing yet: it is skipped.
STATUSES: tuple[tuple[str, ProductStatus], ...] = (
    ("known_affected", ProductStatus.AFFECTED),
    ("first_affected", ProductStatus.AFFECTED),
    ("last_affected", ProductStatus.AFFECTED),
    ("fixed", ProductStatus.FIXED),
    ("first_fixed", ProductStatus.FIXED),
    ("recommended", ProductStatus.FIXED),
    ("known_not_affected", ProductStatus.NOT_AFFECTED),
)

_TRAIN_BOUNDS = frozenset({"first_affected", "last_affected"})
_DOTTED = re.compile(r"^\d+(?:\.\d+)+$")


def _within_line(product: Product, key: str) -> Product:
    """A ``last_affected`` (``first_affected``) plain dotted version as the range it bounds in its release line:
    later (earlier) versions of that line are not affected, so ``last_affected`` 7.0.5 is 7.0 to 7.0.5 and
    ``first_affected`` 7.0.3 is 7.0.3 up to 7.1. Other versions (Cisco trains, builds) stay as listed."""
    if len(product.versions) != 1 or product.versions[0].exact is None or not _DOTTED.match(product.versions[0].exact):
        return product
    version = product.versions[0].exact
    line, _, _ = version.rpartition(".")
    if key == "last_affected":
        bounded = VersionRange(start_including=line, end_including=version)
    else:
        head, dot, last = line.rpartition(".")
        bounded = VersionRange(start_including=version, end_excluding=f"{head}{dot}{int(last) + 1}")
    return replace(product, versions=(bounded,))


# Branch categories that carry a version, innermost first wins: a service pack or patch level under a train.
_EXACT_LEVELS = frozenset({"product_version", "service_pack", "patch_level"})
_RANGE_LEVEL = "product_version_range"
# An RPM build as Red Hat names it: ``kernel-rt-core-0:5.14.0-284.25.1.rt14.310.el9_2.x86_64``.
_NEVRA = re.compile(r"^(?P<name>[A-Za-z0-9._+~^-]+?)-(?P<epoch>\d+):(?P<evr>[0-9A-Za-z._+~^-]+)$")
_ARCHES = frozenset(
    {"src", "noarch", "x86_64", "i386", "i686", "aarch64", "ppc64le", "ppc64", "s390x", "armv7hl", "ppc", "s390"}
)
_OPERATOR = re.compile(r"^(>=|<=|!=|==|=|>|<)?\s*(.*)$")
_TEXT_CONSTRAINTS = re.compile(r"^(?:(?:>=|<=|!=|==|=|>|<)\s*[^\s,;|<>=!]+[\s,;|]*)+$")
_TEXT_CONSTRAINT = re.compile(r"(>=|<=|!=|==|=|>|<)\s*([^\s,;|<>=!]+)")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~:-]*$")
_ALL = frozenset({"*", "all", "all versions", "any", "any version", "vers:all/*"})
# "4.2 and prior", "all versions prior to 4.2", "before 4.2", "up to 4.2", "4.2 or later"
_UP_TO = re.compile(r"^(?P<v>\S+)\s+(?:and|or)\s+(?:prior|earlier|older|below|lower|before)(?:\s+versions?)?$", re.I)
_BEFORE = re.compile(
    r"^(?:all\s+)?(?:versions?\s+)?(?:prior\s+to|before|below|older\s+than|earlier\s+than)\s+(?P<v>\S+)$", re.I
)
_THROUGH = re.compile(
    r"^(?:all\s+)?(?:versions?\s+)?(?:up\s+to(?:\s+and\s+including)?|through|until)\s+(?P<v>\S+)$", re.I
)
_FROM = re.compile(r"^(?P<v>\S+)\s+(?:and|or)\s+(?:later|newer|above|higher|after)(?:\s+versions?)?$", re.I)
_SPAN = re.compile(r"^(?:versions?\s+)?(?P<a>\S+)\s+(?:-|to|through)\s+(?P<b>\S+)$", re.I)
_ACTIVE = re.compile(
    r"\b(?:actively\s+exploited|active(?:ly)?\s+(?:exploitation|attacks?)|exploited\s+in\s+the\s+wild|"
    r"in[\s-]the[\s-]wild|known\s+to\s+be\s+exploited|(?:is|are|being|been|was|were)\s+exploited|"
    r"exploitation\s*[:=]\s*active)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:no|not|never|none|without|unaware|isn't|hasn't|haven't|aren't|wasn't|weren't|unknown)\b", re.IGNORECASE
)
_SSVC_ACTIVE = re.compile(r"\bSSVCv\d+/(?:[A-Z]+:[A-Za-z]+/)*E:A/")


@dataclass(frozen=True, slots=True)
class _Named:
    """What a product_id stands for: vendor, product name, the versions it covers, its CPE's edition and
    target software."""

    vendor: str
    product: str
    versions: tuple[VersionRange, ...]
    range_text: str = ""  # a version range that could not be read: the product is named, its versions unknown
    edition: str | None = None
    target_sw: str | None = None

    def product_as(self, status: ProductStatus) -> Product | None:
        """The product with what one status list says of it; None when that says nothing usable (a fixed or
        not-affected range that could not be read, a fixed product without a version)."""
        if self.range_text:
            if status is not ProductStatus.AFFECTED:
                return None
            # Affected in versions that cannot be read: named, so the match stays unverified, never affected.
            status = ProductStatus.NAMED
        elif status is ProductStatus.FIXED and not self.versions:
            return None
        return Product(self.vendor, self.product, self.versions, status, self.edition, self.target_sw)


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """The vulnerabilities of one CSAF 2.0 document, one observation each.

    Raises :class:`ParseError` when the body is not JSON or not a CSAF document (``document`` with ``tracking``,
    ``vulnerabilities``, ``product_tree``).
    """
    data = _load(feed, body)
    if not isinstance(data, dict) or not isinstance(data.get("document"), dict):
        hint = ""
        if isinstance(data, dict) and ("feed" in data or "distributions" in data):
            hint = "; this is a ROLIE feed or provider metadata: point the feed at the ROLIE feed or index.txt"
        raise ParseError(
            f"feed {feed.id!r}: not a CSAF document (no 'document' object){hint}; format 'csaf' reads CSAF 2.0 "
            "advisories, and the index.txt or ROLIE feed listing them"
        )
    document: dict[str, Any] = data["document"]
    tracking = fields.mapping(document.get("tracking"))
    advisory = fields.clean(tracking.get("id"))
    if not advisory:
        raise ParseError(f"feed {feed.id!r}: the CSAF document has no 'document.tracking.id'")
    vulnerabilities = data.get("vulnerabilities")
    tree = data.get("product_tree", {})
    if vulnerabilities is None and document.get("category") in ("csaf_base", "csaf_informational_advisory"):
        return []  # an informational advisory: nothing it says affects a product
    if not isinstance(vulnerabilities, list) or not isinstance(tree, dict):
        raise ParseError(
            f"feed {feed.id!r}: CSAF document {advisory!r} lacks a 'vulnerabilities' list or a 'product_tree' "
            "object; it is not a CSAF security advisory"
        )
    names = _product_tree(tree)
    common = _common(document, advisory)
    observations: list[Observation] = []
    seen: set[str] = set()
    for ordinal, vulnerability in enumerate(vulnerabilities, start=1):
        if not isinstance(vulnerability, dict):
            continue
        observation = _observation(feed, common, names, vulnerability, ordinal)
        if observation.entry not in seen:
            seen.add(observation.entry)
            observations.append(observation)
    return observations


# -- the document ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Common:
    """What every vulnerability of a document shares."""

    advisory: str
    title: str
    link: str | None
    published: datetime | None
    facts: Mapping[Fact | str, str]
    tlp: Tlp | None  # ``document.distribution.tlp.label``: the whole document's marking


def _common(document: dict[str, Any], advisory: str) -> _Common:
    tracking = fields.mapping(document.get("tracking"))
    references = [
        r for r in fields.items(document.get("references")) if isinstance(r, dict) and fields.web_link(r.get("url"))
    ]
    own = next((r for r in references if r.get("category") == "self"), references[0] if references else None)
    facts: dict[Fact | str, str] = {
        "advisory": advisory,
        "publisher": fields.clean(fields.mapping(document.get("publisher")).get("name")),
        "tlp": fields.clean(fields.mapping(fields.mapping(document.get("distribution")).get("tlp")).get("label")),
    }
    summary = next((n["text"] for n in _notes(document, ("summary",))), None)
    if summary is not None:
        facts[Fact.SUMMARY] = fields.summary(summary)
    return _Common(
        advisory=advisory,
        title=fields.clean(document.get("title")) or advisory,
        link=fields.web_link(own.get("url")) if own else None,
        published=utc_timestamp(tracking.get("current_release_date"))
        or utc_timestamp(tracking.get("initial_release_date")),
        facts=facts,
        tlp=Tlp.parse(str(facts["tlp"])) if facts["tlp"] else None,
    )


def _observation(
    feed: FeedSpec, common: _Common, names: Mapping[str, _Named], vulnerability: dict[str, Any], ordinal: int
) -> Observation:
    cve = _cve(vulnerability)
    vuln_title = fields.clean(vulnerability.get("title"))
    notes = [n["text"] for n in _notes(vulnerability, ("summary", "description"))]
    text = fields.clean(" ".join([common.title, vuln_title, *(n[:MAX_TEXT] for n in notes)]), MAX_TEXT)

    status = fields.mapping(vulnerability.get("product_status"))
    products: dict[Product, None] = {}
    unread: dict[str, None] = {}
    for key, said in STATUSES:
        for product_id in fields.items(status.get(key)):
            named = names.get(product_id) if isinstance(product_id, str) else None
            product = named.product_as(said) if named is not None else None
            if named is None or product is None:
                continue
            if key in _TRAIN_BOUNDS:
                product = _within_line(product, key)
            products.setdefault(product)
            if named.range_text:
                unread.setdefault(f"{named.vendor} {named.product}: {named.range_text}")

    facts = dict(common.facts)
    if Fact.SUMMARY not in facts and notes:
        facts[Fact.SUMMARY] = fields.summary(notes[0])  # no summary of the document: the vulnerability's own
    if feed.kind is FeedKind.ADVISORY:
        topic = topics.classify(common.title, facts.get(Fact.SUMMARY))
        facts[Fact.TOPIC] = topic.value if topic is not None else ""
    facts.update(_best_score(vulnerability.get("scores")))
    facts[Fact.CWE] = fields.clean(fields.mapping(vulnerability.get("cwe")).get("id"))
    remediations = [
        fields.clean(r.get("details"), MAX_REMEDIATION)
        for r in fields.items(vulnerability.get("remediations"))
        if isinstance(r, dict)
    ]
    facts["remediation"] = "\n".join(dict.fromkeys(r for r in remediations if r))[:MAX_REMEDIATION]
    facts["version_range"] = fields.clean("; ".join(unread))
    return Observation(
        feed=feed.id,
        entry=f"{common.advisory}#{cve or ordinal}",
        kind=feed.kind,
        title=f"{common.title} — {vuln_title}" if vuln_title else common.title,
        indicators=(Indicator(IndicatorType.CVE, cve),) if cve else (),
        products=tuple(products),
        text=text,
        link=common.link,
        published=common.published,
        facts=Facts.of({k: v for k, v in facts.items() if v}),
        exploited=_exploited(vulnerability),
        tlp=common.tlp,
    )


def _notes(holder: dict[str, Any], categories: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The notes of a document or a vulnerability of these categories that have a text, in their order."""
    for note in fields.mappings(holder.get("notes")):
        if note.get("category") in categories and isinstance(note.get("text"), str):
            yield note


def _cve(vulnerability: dict[str, Any]) -> str | None:
    candidates = [vulnerability.get("cve")]
    candidates += [i.get("text") for i in fields.items(vulnerability.get("ids")) if isinstance(i, dict)]
    for candidate in candidates:
        text = candidate.strip().upper() if isinstance(candidate, str) else ""
        if CVE_ID.match(text):
            return text
    return None


def _best_score(scores: Any) -> dict[Fact | str, str]:
    """The highest CVSS base score given for the vulnerability (v3 or v2), with its vector."""
    best: tuple[float, str, str] | None = None
    for score in fields.items(scores):
        for key in ("cvss_v3", "cvss_v2"):
            cvss = fields.mapping(fields.mapping(score).get(key))
            value = cvss.get("baseScore")
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
                continue
            version = fields.clean(cvss.get("version")) or ("3.1" if key == "cvss_v3" else "2.0")
            if best is None or value > best[0]:
                best = (float(value), fields.clean(cvss.get("vectorString")), version)
    if best is None:
        return {}
    return {Fact.CVSS: f"{best[0]:.1f}", "cvss_vector": best[1], "cvss_version": best[2]}


def _exploited(vulnerability: dict[str, Any]) -> bool:
    """Whether an ``exploit_status`` threat (or an SSVC note ``E:A``) reports exploitation in the wild."""
    for threat in fields.items(vulnerability.get("threats")):
        if not isinstance(threat, dict) or threat.get("category") != "exploit_status":
            continue
        details = fields.clean(threat.get("details"), MAX_TEXT)
        if _ACTIVE.search(details) and not _NEGATION.search(details):
            return True
    for note in fields.items(vulnerability.get("notes")):
        if isinstance(note, dict) and isinstance(note.get("text"), str) and _SSVC_ACTIVE.search(note["text"][:500]):
            return True
    return False


# -- the product tree --------------------------------------------------------------------------------------


def _product_tree(tree: dict[str, Any]) -> dict[str, _Named]:
    """Every product_id of the tree mapped to what it names; ids naming no vendor are left out."""
    names: dict[str, _Named] = {}
    for product, path in _branches(fields.items(tree.get("branches")), (), 0):
        _add(names, product, path)
    for product in fields.items(tree.get("full_product_names")):
        if isinstance(product, dict):
            _add(names, product, ())
    # A relationship names a product as part of, or installed on, another: what is vulnerable is the
    # product referred to. Relationships may refer to others; two passes resolve the chains seen in practice.
    relationships = [r for r in fields.items(tree.get("relationships")) if isinstance(r, dict)]
    for _ in range(2):
        for relationship in relationships:
            product_id = fields.mapping(relationship.get("full_product_name")).get("product_id")
            reference = relationship.get("product_reference")
            referred = names.get(reference) if isinstance(reference, str) else None
            if isinstance(product_id, str) and referred is not None and product_id not in names:
                names[product_id] = referred
    return names


def _branches(
    branches: list[Any], path: tuple[tuple[str, str], ...], depth: int
) -> Iterator[tuple[dict[str, Any], tuple[tuple[str, str], ...]]]:
    """Every ``product`` of the branches, with the (category, name) pairs of the branches leading to it."""
    if depth > MAX_DEPTH:
        return
    for branch in branches:
        if not isinstance(branch, dict):
            continue
        here = (*path, (fields.clean(branch.get("category")), fields.clean(branch.get("name"), MAX_FIELD)))
        if isinstance(branch.get("product"), dict):
            yield branch["product"], here
        yield from _branches(fields.items(branch.get("branches")), here, depth + 1)


def _add(names: dict[str, _Named], product: dict[str, Any], path: tuple[tuple[str, str], ...]) -> None:
    product_id = product.get("product_id")
    if not isinstance(product_id, str) or product_id in names:
        return
    levels = {category: name for category, name in path if name}  # the innermost of each category
    vendor = levels.get("vendor", "")
    name = levels.get("product_name") or levels.get("product_family", "")
    versions: tuple[VersionRange, ...] = ()
    range_text = ""
    versioned = False
    helper = fields.mapping(product.get("product_identification_helper"))
    package = _purl(helper.get("purl"))
    for category, value in reversed(path):
        if category in _EXACT_LEVELS and value:
            build = _NEVRA.match(value)
            if build is not None:
                # A package build: the package is the product, its version-release the version.
                name = name or (package[1] if package else build["name"])
                value = package[2] if package else _without_arch(build["evr"], levels.get("architecture"))
            versions = (VersionRange(exact=value),) if len(value) <= MAX_VERSION else ()
            versioned = True
            break
        if category == _RANGE_LEVEL and value:
            read = read_range(value)
            if read is None:
                range_text = value
            else:
                versions = read
            versioned = True
            break
    if package is not None:
        vendor = vendor or package[0]
        name = name or package[1]
        if not versioned and package[2]:
            versions = (VersionRange(exact=package[2]),)
            versioned = True
    cpe = helper.get("cpe")
    parts = split_cpe(cpe) if isinstance(cpe, str) else None
    edition = target_sw = None
    if parts is not None and isinstance(cpe, str):
        vendor = vendor or parts[0]
        name = name or parts[1]
        if not versioned and parts[2] is not None:
            versions = (VersionRange(exact=parts[2]),)
        edition, target_sw = cpe_fields(cpe)
    if not vendor:
        return  # a name alone cannot be matched precisely; the text still carries it
    name = name or fields.clean(product.get("name")) or vendor
    names[product_id] = _Named(vendor, name, versions, range_text, edition, target_sw)


def _purl(value: Any) -> tuple[str, str, str] | None:
    """Namespace (``""`` when none), name and version (``""`` when none) of a package URL; None when it is not
    one. Read by packageurl-python, the purl reference implementation."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return None
    try:
        purl = PackageURL.from_string(value)
    except ValueError:
        return None
    name = fields.clean(purl.name)
    version = fields.clean(purl.version or "")
    if not name or len(version) > MAX_VERSION:
        return None
    return fields.clean(purl.namespace or ""), name, version


def _without_arch(evr: str, architecture: str | None) -> str:
    """An RPM ``version-release.arch`` without its architecture: the build as a version."""
    stem, dot, arch = evr.rpartition(".")
    if dot and stem and (arch in _ARCHES or (architecture is not None and arch == architecture)):
        return stem
    return evr


def read_range(text: str) -> tuple[VersionRange, ...] | None:
    """A CSAF ``product_version_range`` as version bounds: ``vers:generic/>=1.0|<2.0``, ``<=4.2``,
    ``>=1.0 <2.0``, ``4.2 and prior``, ``prior to 4.2``. ``()`` means every version (``vers:all/*``);
    None when the text cannot be read."""
    text = " ".join(text.split())
    if text.lower() in _ALL:
        return ()
    if text.lower().startswith("vers:"):
        scheme, _, constraints = text[5:].partition("/")
        if not scheme or not constraints:
            return None
        if constraints.strip() == "*":
            return ()
        pairs = []
        for constraint in constraints.split("|"):
            found = _OPERATOR.match(constraint.strip())
            if found is None:
                return None
            pairs.append((found.group(1) or "=", unquote(found.group(2).strip())))
        return _ranges(pairs)
    if _TEXT_CONSTRAINTS.match(text):
        return _ranges([(op, version) for op, version in _TEXT_CONSTRAINT.findall(text)])
    for pattern, field in ((_UP_TO, "end_including"), (_BEFORE, "end_excluding"), (_THROUGH, "end_including")):
        found = pattern.match(text)
        if found and _VERSION.match(found["v"]):
            return (VersionRange(**{field: found["v"]}),)
    found = _FROM.match(text)
    if found and _VERSION.match(found["v"]):
        return (VersionRange(start_including=found["v"]),)
    found = _SPAN.match(text)
    if found and _VERSION.match(found["a"]) and _VERSION.match(found["b"]):
        return (VersionRange(start_including=found["a"], end_including=found["b"]),)
    if _VERSION.match(text) and any(c.isdigit() for c in text) and len(text) <= MAX_VERSION:
        return (VersionRange(exact=text),)
    return None


def _ranges(pairs: list[tuple[str, str]]) -> tuple[VersionRange, ...] | None:
    """Constraints in order (as ``vers`` sorts them) paired into ranges: a lower bound opens one, the next
    upper bound closes it; ``=`` gives an exact version; ``!=`` exclusions are ignored (more is alerted)."""
    ranges: list[VersionRange] = []
    lower: dict[str, str] = {}
    for op, version in pairs:
        if not version or len(version) > MAX_VERSION or not _VERSION.match(version):
            if op == "!=":
                continue
            return None
        if op in ("=", "=="):
            if lower:
                ranges.append(VersionRange(**lower))
                lower = {}
            ranges.append(VersionRange(exact=version))
        elif op in (">", ">="):
            if lower:
                ranges.append(VersionRange(**lower))
            lower = {"start_including" if op == ">=" else "start_excluding": version}
        elif op in ("<", "<="):
            ranges.append(VersionRange(**lower, **{"end_including" if op == "<=" else "end_excluding": version}))
            lower = {}
    if lower:
        ranges.append(VersionRange(**lower))
    return tuple(dict.fromkeys(ranges))


# -- small readers -----------------------------------------------------------------------------------------


def _load(feed: FeedSpec, body: bytes) -> Any:
    return load_json(
        feed,
        body,
        "the CSAF document",
        "a truncated download, an HTML page, or an index the format could not recognise gives this",
    )


__all__ = ["MAX_DOCUMENTS", "expand", "parse", "read_range"]
