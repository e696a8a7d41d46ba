"""NVD CVE data (format ``nvd-json``): one observation per CVE, with the products its CPE configurations name.

Both layouts NVD has published are read: the CVE API 2.0 response pages (``vulnerabilities[].cve``,
``configurations[].nodes[].cpeMatch[].criteria``) and the retired 1.1 feed files (``CVE_Items[]``,
``configurations.nodes[].cpe_match[].cpe23Uri`` with nested ``children`` nodes). Each vulnerable CPE match
becomes a :class:`~alertd.domain.values.Product` whose versions come from the CPE's version and update fields when
it names one (``2019`` + ``cumulative_update_12``, as :attr:`~alertd.domain.cpe.Cpe.full_version` joins them), or
from the match's ``versionStart*``/``versionEnd*`` bounds when it is a wildcard; its ``sw_edition`` and
``target_sw`` restrict it to one edition or platform software (``aem_cloud_service``).

An AND configuration (API 2.0: a configuration with ``operator: AND`` over several nodes; 1.1: an AND node with
``children``) says that the vulnerable CPEs of one node are vulnerable only when running on a platform of another:
those platforms, the sibling nodes' non-vulnerable CPEs, are the product's ``running_on``.

Vendor, product, edition and target software are written as people write them: ``_`` becomes a space
(``aem_cloud_service`` → ``aem cloud service``), as the matcher compares names by their words; versions stay as
NVD writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from alertd.domain.cpe import Cpe, parse_cpe
from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.grammar import CVE_ID
from alertd.domain.values import Indicator, IndicatorType, Observation, Product, ProductStatus, VersionRange
from alertd.intake.formats import fields
from alertd.intake.formats.entries import bounded_entries
from alertd.intake.formats.jsondoc import load_json, utc_timestamp

NVD_LINK = "https://nvd.nist.gov/vuln/detail/{cve}"
TITLE_CHARS = 120  # of the description, after the CVE id
MAX_TEXT = 4000  # characters of description kept
MAX_CPE = 1000  # longer "CPE" strings are not CPEs; they are skipped
MAX_VERSION = 200
MAX_PRODUCTS = 5000  # per CVE; NVD's largest configurations (Linux, Android) stay well below
MAX_DEPTH = 32  # of nested configuration nodes; NVD uses two
MAX_PLATFORMS = 1000  # a product's running_on; NVD's longest hardware lists run to a few hundred models
_BOUNDS = (
    ("versionStartIncluding", "start_including"),
    ("versionStartExcluding", "start_excluding"),
    ("versionEndIncluding", "end_including"),
    ("versionEndExcluding", "end_excluding"),
)
# A CPE match with what the vulnerable product runs on: the platforms of its AND configuration.
_Match = tuple[Mapping[str, Any], str, tuple[Product, ...]]
# Best first: the brief's order of preference, then CVSS 4.0 when a record carries nothing else.
_METRICS_20 = (("cvssMetricV31", "3.1"), ("cvssMetricV30", "3.0"), ("cvssMetricV2", "2.0"), ("cvssMetricV40", "4.0"))


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """The CVEs of an NVD API 2.0 page or a 1.1 feed file, one observation each; malformed records are skipped.

    Raises :class:`ParseError` when the body is not JSON, or is neither layout, or holds records none of which
    is a CVE.
    """
    data = _load(feed, body)
    records: list[Any]
    if isinstance(data, dict) and isinstance(data.get("vulnerabilities"), list):
        records, read = data["vulnerabilities"], _record_20
    elif isinstance(data, dict) and isinstance(data.get("CVE_Items"), list):
        records, read = data["CVE_Items"], _record_11
    else:
        raise ParseError(
            f"feed {feed.id!r}: neither an NVD CVE API 2.0 page (a 'vulnerabilities' list) nor an NVD 1.1 feed "
            "file (a 'CVE_Items' list); check that the url serves NVD CVE JSON (format 'nvd-json')"
        )
    observations = bounded_entries(feed, (read(feed, record) for record in records if isinstance(record, dict)))
    if records and not observations:
        raise ParseError(
            f"feed {feed.id!r}: none of the {len(records)} records is an NVD CVE record with a CVE id; "
            "check that the url serves NVD CVE JSON (format 'nvd-json')"
        )
    return observations


def split_cpe(cpe: str) -> tuple[str, str, str | None] | None:
    """Vendor, product and version of a CPE 2.3 formatted string (or a CPE 2.2 URI), as people write them.

    ``_`` becomes a space in vendor and product, whose text is cleaned; the version comes back as written, None
    when the CPE leaves it open (``*`` or ``-``). None when the string is not a CPE naming a vendor and a product.
    """
    parsed = _cpe(cpe)
    if parsed is None:
        return None
    vendor, product = _words(parsed.vendor), _words(parsed.product)
    if not vendor or not product or (parsed.version is not None and len(parsed.version) > MAX_VERSION):
        return None
    return vendor, product, parsed.version


def cpe_fields(cpe: str) -> tuple[str | None, str | None]:
    """The ``sw_edition`` and ``target_sw`` of a CPE, written as vendor and product are (``_`` a space); None for
    an open field (``*``, ``-``) or a string that is no CPE."""
    parsed = _cpe(cpe)
    if parsed is None:
        return None, None
    return _words(parsed.sw_edition) or None, _words(parsed.target_sw) or None


def _cpe(cpe: str) -> Cpe | None:
    if len(cpe) > MAX_CPE:
        return None
    parsed = parse_cpe(cpe)
    return parsed if parsed is not None and parsed.vendor is not None and parsed.product is not None else None


def _words(value: str | None) -> str:
    return fields.clean(value.replace("_", " ")) if value is not None else ""


def _load(feed: FeedSpec, body: bytes) -> Any:
    return load_json(feed, body, "the NVD document", "a truncated download or a page of HTML gives this")


# -- the two layouts ---------------------------------------------------------------------------------------


def _record_20(feed: FeedSpec, item: dict[str, Any]) -> Observation | None:
    """One ``vulnerabilities[]`` item of an API 2.0 page."""
    cve = fields.mapping(item.get("cve"))
    cve_id = _cve_id(cve.get("id"))
    if cve_id is None:
        return None
    metrics = fields.mapping(cve.get("metrics"))
    facts = _score_20(metrics)
    products = _products(_nodes_20(cve.get("configurations")))
    exploited = False
    added = fields.clean(cve.get("cisaExploitAdd"))
    if added:
        # NVD copies the CISA KEV entry into the record: the vulnerability is exploited in the wild.
        exploited = True
        facts[Fact.DATE_ADDED] = added
        facts[Fact.DUE_DATE] = fields.clean(cve.get("cisaActionDue"))
        facts[Fact.REQUIRED_ACTION] = fields.clean(cve.get("cisaRequiredAction"))
        facts["vulnerability_name"] = fields.clean(cve.get("cisaVulnerabilityName"))
    cwes = [
        fields.clean(d.get("value"))
        for w in fields.items(cve.get("weaknesses"))
        for d in fields.items(fields.mapping(w).get("description"))
        if isinstance(d, dict)
    ]
    facts[Fact.CWE] = _join(cwes)
    return _observation(
        feed, cve_id, _english(cve.get("descriptions")), products, cve.get("published"), facts, exploited
    )


def _record_11(feed: FeedSpec, item: dict[str, Any]) -> Observation | None:
    """One ``CVE_Items[]`` item of a 1.1 feed file."""
    cve = fields.mapping(item.get("cve"))
    cve_id = _cve_id(fields.mapping(cve.get("CVE_data_meta")).get("ID"))
    if cve_id is None:
        return None
    facts = _score_11(fields.mapping(item.get("impact")))
    nodes = fields.items(fields.mapping(item.get("configurations")).get("nodes"))
    products = _products(_walk(nodes, "cpe_match", "cpe23Uri"))
    cwes = [
        fields.clean(d.get("value"))
        for p in fields.items(fields.mapping(cve.get("problemtype")).get("problemtype_data"))
        for d in fields.items(fields.mapping(p).get("description"))
        if isinstance(d, dict)
    ]
    facts[Fact.CWE] = _join(cwes)
    description = _english(fields.mapping(cve.get("description")).get("description_data"))
    return _observation(feed, cve_id, description, products, item.get("publishedDate"), facts, False)


def _observation(
    feed: FeedSpec,
    cve_id: str,
    description: str,
    products: tuple[Product, ...],
    published: Any,
    facts: dict[Fact | str, str],
    exploited: bool,
) -> Observation:
    short = description if len(description) <= TITLE_CHARS else description[:TITLE_CHARS].rstrip() + "…"
    return Observation(
        feed=feed.id,
        entry=cve_id,
        kind=feed.kind,
        title=f"{cve_id}: {short}" if short else cve_id,
        indicators=(Indicator(IndicatorType.CVE, cve_id),),
        products=products,
        text=description,
        link=NVD_LINK.format(cve=cve_id),
        published=utc_timestamp(published),
        facts=Facts.of({k: v for k, v in facts.items() if v}),
        exploited=exploited,
    )


# -- configurations ----------------------------------------------------------------------------------------


def _nodes_20(configurations: Any) -> Iterator[_Match]:
    """Every CPE match of every node of every configuration, with its CPE string (2.0 names it ``criteria``); an
    AND configuration's nodes are read as the children of one AND node."""
    for configuration in fields.items(configurations):
        configuration = fields.mapping(configuration)
        nodes = fields.items(configuration.get("nodes"))
        if configuration.get("negate") is True:
            continue
        if str(configuration.get("operator", "")).upper() == "AND" and len(nodes) > 1:
            nodes = [{"operator": "AND", "children": nodes}]
        yield from _walk(nodes, "cpeMatch", "criteria")


def _walk(
    nodes: list[Any], key: str, cpe_key: str, depth: int = 0, platforms: tuple[Product, ...] = ()
) -> Iterator[_Match]:
    """The CPE matches of ``nodes`` and of their ``children``, each with the platforms it runs on: under an AND
    node, the non-vulnerable CPEs of its other children (1.1 nests platform conditions this way)."""
    if depth > MAX_DEPTH:
        return
    for node in nodes:
        if not isinstance(node, dict) or node.get("negate") is True:
            continue  # a negated node lists what is *not* affected
        children = list(fields.mappings(node.get("children")))
        if str(node.get("operator", "")).upper() == "AND" and children:
            each = [_platforms([child], key, cpe_key, depth + 1) for child in children]
            for index, child in enumerate(children):
                others = [p for other, found in enumerate(each) if other != index for p in found]
                yield from _walk([child], key, cpe_key, depth + 1, _join_platforms(platforms, others))
            own = _join_platforms(platforms, [p for found in each for p in found])
            yield from _matches(node, key, cpe_key, own)
            continue
        yield from _matches(node, key, cpe_key, platforms)
        yield from _walk(children, key, cpe_key, depth + 1, platforms)


def _matches(node: Mapping[str, Any], key: str, cpe_key: str, platforms: tuple[Product, ...]) -> Iterator[_Match]:
    for match in fields.items(node.get(key)):
        if isinstance(match, dict) and isinstance(match.get(cpe_key), str):
            yield match, match[cpe_key], platforms


def _platforms(nodes: list[Any], key: str, cpe_key: str, depth: int) -> list[Product]:
    """The non-vulnerable CPEs of ``nodes`` (and their children): the platforms a sibling node's product runs on."""
    found: list[Product] = []
    for match, cpe, _ in _walk(nodes, key, cpe_key, depth):
        if match.get("vulnerable") is False:
            product = _product(match, cpe, ProductStatus.NAMED)
            if product is not None:
                found.append(product)
    return found


def _join_platforms(given: tuple[Product, ...], more: list[Product]) -> tuple[Product, ...]:
    return tuple(dict.fromkeys([*given, *more]))[:MAX_PLATFORMS]


def _products(matches: Iterator[_Match]) -> tuple[Product, ...]:
    products: dict[Product, None] = {}
    for match, cpe, platforms in matches:
        if match.get("vulnerable") is not True:
            continue  # the platform a vulnerable product runs on, not itself vulnerable
        product = _product(match, cpe, ProductStatus.AFFECTED, platforms)
        if product is not None:
            products.setdefault(product)
            if len(products) >= MAX_PRODUCTS:
                break
    return tuple(products)


def _product(
    match: Mapping[str, Any], cpe: str, status: ProductStatus, platforms: tuple[Product, ...] = ()
) -> Product | None:
    """The product a CPE match names: vendor, product, edition and target software from the CPE; versions from
    its version and update, else from the match's bounds (none: every version). A platform (``NAMED``) keeps
    the versions NVD bounds it with, if any."""
    parsed = _cpe(cpe)
    if parsed is None:
        return None
    vendor, product = _words(parsed.vendor), _words(parsed.product)
    version = parsed.full_version
    if not vendor or not product or (version is not None and len(version) > MAX_VERSION):
        return None
    edition, target_sw = _words(parsed.sw_edition) or None, _words(parsed.target_sw) or None
    if version is not None:
        versions: tuple[VersionRange, ...] = (VersionRange(exact=version),)
    else:
        bounds = {field: _version(match.get(key)) for key, field in _BOUNDS}
        versions = (VersionRange(**bounds),) if any(bounds.values()) else ()
        if not versions and status is ProductStatus.AFFECTED and _not_applicable_version(cpe):
            # A version "-" (NA) names no version at all (google:android:- for a Pixel-only flaw): it says
            # nothing of which versions are affected, unlike "*" (ANY), which says every one is.
            status = ProductStatus.NAMED
    return Product(vendor, product, versions, status, edition, target_sw, platforms)


_CPE_SPLIT = re.compile(r"(?<!\\):")


def _not_applicable_version(cpe: str) -> bool:
    """Whether a CPE's version component is NA (``-``): the sixth of a 2.3 formatted string, the fifth of a 2.2
    URI."""
    parts = _CPE_SPLIT.split(cpe[:MAX_CPE])
    index = 5 if cpe.startswith("cpe:2.3:") else 4
    return len(parts) > index and parts[index] == "-"


def _version(value: Any) -> str | None:
    text = fields.clean(value)
    return text if text and len(text) <= MAX_VERSION else None


# -- scores ------------------------------------------------------------------------------------------------


def _score_20(metrics: Mapping[str, Any]) -> dict[Fact | str, str]:
    """The best CVSS of a 2.0 record: the highest version present, NVD's own (Primary) score first."""
    for key, version in _METRICS_20:
        entries = [m for m in fields.items(metrics.get(key)) if isinstance(m, dict)]
        entries.sort(key=lambda m: m.get("type") != "Primary")
        for entry in entries:
            data = fields.mapping(entry.get("cvssData"))
            score = _score(data.get("baseScore"))
            if score is None:
                continue
            severity = fields.clean(data.get("baseSeverity")) or fields.clean(entry.get("baseSeverity"))
            return {
                Fact.CVSS: score,
                "cvss_version": fields.clean(data.get("version")) or version,
                "cvss_vector": fields.clean(data.get("vectorString")),
                "nvd_severity": severity,
            }
    return {}


def _score_11(impact: Mapping[str, Any]) -> dict[Fact | str, str]:
    """The CVSS of a 1.1 record: v3 (3.0 or 3.1, as its ``version`` says), else v2."""
    v3 = fields.mapping(fields.mapping(impact.get("baseMetricV3")).get("cvssV3"))
    score = _score(v3.get("baseScore"))
    if score is not None:
        return {
            Fact.CVSS: score,
            "cvss_version": fields.clean(v3.get("version")) or "3.0",
            "cvss_vector": fields.clean(v3.get("vectorString")),
            "nvd_severity": fields.clean(v3.get("baseSeverity")),
        }
    metric = fields.mapping(impact.get("baseMetricV2"))
    v2 = fields.mapping(metric.get("cvssV2"))
    score = _score(v2.get("baseScore"))
    if score is not None:
        return {
            Fact.CVSS: score,
            "cvss_version": fields.clean(v2.get("version")) or "2.0",
            "cvss_vector": fields.clean(v2.get("vectorString")),
            "nvd_severity": fields.clean(metric.get("severity")),
        }
    return {}


def _score(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        return None
    return f"{value:.1f}"


# -- small readers -----------------------------------------------------------------------------------------


def _cve_id(value: Any) -> str | None:
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if CVE_ID.match(text) else None


def _english(descriptions: Any) -> str:
    """The English description (the first one given when none is marked English), cleaned and capped."""
    texts = [d for d in fields.items(descriptions) if isinstance(d, dict) and isinstance(d.get("value"), str)]
    chosen = next((d for d in texts if str(d.get("lang", "")).lower().startswith("en")), texts[0] if texts else None)
    return fields.clean(chosen["value"], MAX_TEXT) if chosen else ""


def _join(values: list[str]) -> str:
    # NVD-CWE-noinfo and NVD-CWE-Other say that NVD could not name a weakness
    return fields.clean(", ".join(dict.fromkeys(v for v in values if v and not v.startswith("NVD-CWE-"))))
