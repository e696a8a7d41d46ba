"""NVD CVE data (format ``nvd-json``): one observation per CVE, with the products its CPE configurations name.

Both layouts NVD has published are read: the CVE API 2.0 response pages (``vulnerabilities[].cve``,
``configurations[].nodes[].cpeMatch[].criteria``) and the retired 1.1 feed files (``CVE_Items[]``,
``configurations.nodes[].cpe_match[].cpe23Uri`` with nested ``children`` nodes). Each vulnerable CPE match
becomes a :class:`~alertd.model.Product` whose versions come from the CPE's version field when it names one,
or from the match's ``versionStart*``/``versionEnd*`` bounds when it is a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedConfig
from alertd.domain.values import Indicator, IndicatorType, Observation, Product, VersionRange
from alertd.intake.formats.jsondoc import load_json, unique_entries, utc_timestamp

NVD_LINK = "https://nvd.nist.gov/vuln/detail/{cve}"
TITLE_CHARS = 120  # of the description, after the CVE id
MAX_TEXT = 4000  # characters of description kept
MAX_FIELD = 500  # characters kept of a score vector, a severity, a date or a required action
MAX_CPE = 1000  # longer "CPE" strings are not CPEs; they are skipped
MAX_VERSION = 200
MAX_PRODUCTS = 5000  # per CVE; NVD's largest configurations (Linux, Android) stay well below
MAX_DEPTH = 32  # of nested configuration nodes; NVD uses two
_CVE = re.compile(r"^CVE-\d{4}-\d{4,12}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WILDCARDS = frozenset({"*", "-", ""})
_BOUNDS = (
    ("versionStartIncluding", "start_including"),
    ("versionStartExcluding", "start_excluding"),
    ("versionEndIncluding", "end_including"),
    ("versionEndExcluding", "end_excluding"),
)
# Best first: the brief's order of preference, then CVSS 4.0 when a record carries nothing else.
_METRICS_20 = (("cvssMetricV31", "3.1"), ("cvssMetricV30", "3.0"), ("cvssMetricV2", "2.0"), ("cvssMetricV40", "4.0"))


def parse(feed: FeedConfig, body: bytes) -> list[Observation]:
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
    observations = unique_entries(read(feed, record) for record in records if isinstance(record, dict))
    if records and not observations:
        raise ParseError(
            f"feed {feed.id!r}: none of the {len(records)} records is an NVD CVE record with a CVE id; "
            "check that the url serves NVD CVE JSON (format 'nvd-json')"
        )
    return observations


def split_cpe(cpe: str) -> tuple[str, str, str] | None:
    """Vendor, product and version of a CPE 2.3 formatted string (or a CPE 2.2 URI), as people write them.

    ``_`` becomes a space in vendor and product, and ``\\`` escapes are removed; the version comes back as
    written, ``*`` or ``-`` included. None when the string is not a CPE naming a vendor and a product.
    """
    if len(cpe) > MAX_CPE:
        return None
    if cpe.startswith("cpe:2.3:"):
        fields = _cpe23_fields(cpe)
        if len(fields) < 6:
            return None
        (raw_vendor, vendor), (raw_product, product), (raw_version, version) = fields[3], fields[4], fields[5]
        if raw_version in _WILDCARDS:
            version = raw_version
    elif cpe.startswith("cpe:/"):
        parts = cpe[5:].split(":")
        if len(parts) < 3:
            return None
        raw_vendor, raw_product = parts[1], parts[2]
        vendor, product = unquote(raw_vendor), unquote(raw_product)
        raw_version = parts[3] if len(parts) > 3 else ""
        version = unquote(raw_version) if raw_version not in _WILDCARDS else raw_version
    else:
        return None
    if raw_vendor in _WILDCARDS or raw_product in _WILDCARDS:
        return None
    vendor, product = _clean(vendor.replace("_", " ")), _clean(product.replace("_", " "))
    if not vendor or not product or len(version) > MAX_VERSION:
        return None
    return vendor, product, version


def _load(feed: FeedConfig, body: bytes) -> Any:
    return load_json(feed, body, "the NVD document", "a truncated download or a page of HTML gives this")


# -- the two layouts ---------------------------------------------------------------------------------------


def _record_20(feed: FeedConfig, item: dict[str, Any]) -> Observation | None:
    """One ``vulnerabilities[]`` item of an API 2.0 page."""
    cve = _dict(item.get("cve"))
    cve_id = _cve_id(cve.get("id"))
    if cve_id is None:
        return None
    metrics = _dict(cve.get("metrics"))
    attrs = _score_20(metrics)
    products = _products(_nodes_20(cve.get("configurations")))
    exploited = False
    added = _text(cve.get("cisaExploitAdd"))
    if added:
        # NVD copies the CISA KEV entry into the record: the vulnerability is exploited in the wild.
        exploited = True
        attrs["date_added"] = added
        attrs["due_date"] = _text(cve.get("cisaActionDue"))
        attrs["required_action"] = _text(cve.get("cisaRequiredAction"))
        attrs["vulnerability_name"] = _text(cve.get("cisaVulnerabilityName"))
    cwes = [
        _text(d.get("value"))
        for w in _list(cve.get("weaknesses"))
        for d in _list(_dict(w).get("description"))
        if isinstance(d, dict)
    ]
    attrs["cwe"] = _join(cwes)
    return _observation(
        feed, cve_id, _english(cve.get("descriptions")), products, cve.get("published"), attrs, exploited
    )


def _record_11(feed: FeedConfig, item: dict[str, Any]) -> Observation | None:
    """One ``CVE_Items[]`` item of a 1.1 feed file."""
    cve = _dict(item.get("cve"))
    cve_id = _cve_id(_dict(cve.get("CVE_data_meta")).get("ID"))
    if cve_id is None:
        return None
    attrs = _score_11(_dict(item.get("impact")))
    nodes = _list(_dict(item.get("configurations")).get("nodes"))
    products = _products(_walk(nodes, "cpe_match", "cpe23Uri"))
    cwes = [
        _text(d.get("value"))
        for p in _list(_dict(cve.get("problemtype")).get("problemtype_data"))
        for d in _list(_dict(p).get("description"))
        if isinstance(d, dict)
    ]
    attrs["cwe"] = _join(cwes)
    description = _english(_dict(cve.get("description")).get("description_data"))
    return _observation(feed, cve_id, description, products, item.get("publishedDate"), attrs, False)


def _observation(
    feed: FeedConfig,
    cve_id: str,
    description: str,
    products: tuple[Product, ...],
    published: Any,
    attrs: dict[str, str],
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
        attrs=MappingProxyType({k: v for k, v in attrs.items() if v}),
        exploited=exploited,
    )


# -- configurations ----------------------------------------------------------------------------------------


def _nodes_20(configurations: Any) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Every CPE match of every node of every configuration, with its CPE string (2.0 names it ``criteria``)."""
    for configuration in _list(configurations):
        yield from _walk(_list(_dict(configuration).get("nodes")), "cpeMatch", "criteria")


def _walk(nodes: list[Any], key: str, cpe_key: str, depth: int = 0) -> Iterator[tuple[Mapping[str, Any], str]]:
    """The CPE matches of ``nodes`` and of their ``children`` (1.1 nests platform conditions under AND nodes)."""
    if depth > MAX_DEPTH:
        return
    for node in nodes:
        if not isinstance(node, dict) or node.get("negate") is True:
            continue  # a negated node lists what is *not* affected
        for match in _list(node.get(key)):
            if isinstance(match, dict) and isinstance(match.get(cpe_key), str):
                yield match, match[cpe_key]
        yield from _walk(_list(node.get("children")), key, cpe_key, depth + 1)


def _products(matches: Iterator[tuple[Mapping[str, Any], str]]) -> tuple[Product, ...]:
    products: dict[Product, None] = {}
    for match, cpe in matches:
        if match.get("vulnerable") is not True:
            continue  # the platform a vulnerable product runs on, not itself vulnerable
        product = _product(match, cpe)
        if product is not None:
            products.setdefault(product)
            if len(products) >= MAX_PRODUCTS:
                break
    return tuple(products)


def _product(match: Mapping[str, Any], cpe: str) -> Product | None:
    parts = split_cpe(cpe)
    if parts is None:
        return None
    vendor, product, version = parts
    if version not in _WILDCARDS:
        return Product(vendor, product, (VersionRange(exact=version),))
    bounds = {field: _version(match.get(key)) for key, field in _BOUNDS}
    if not any(bounds.values()):
        return Product(vendor, product)
    return Product(vendor, product, (VersionRange(**bounds),))


def _cpe23_fields(cpe: str) -> list[tuple[str, str]]:
    """The colon-separated fields of a CPE 2.3 formatted string, each as (raw, unescaped)."""
    fields: list[tuple[str, str]] = []
    raw: list[str] = []
    value: list[str] = []
    escaped = False
    for char in cpe:
        if escaped:
            raw.append(char)
            value.append(char)
            escaped = False
        elif char == "\\":
            raw.append(char)
            escaped = True
        elif char == ":":
            fields.append(("".join(raw), "".join(value)))
            raw, value = [], []
        else:
            raw.append(char)
            value.append(char)
    fields.append(("".join(raw), "".join(value)))
    return fields


def _version(value: Any) -> str | None:
    text = _text(value)
    return text if text and len(text) <= MAX_VERSION else None


# -- scores ------------------------------------------------------------------------------------------------


def _score_20(metrics: Mapping[str, Any]) -> dict[str, str]:
    """The best CVSS of a 2.0 record: the highest version present, NVD's own (Primary) score first."""
    for key, version in _METRICS_20:
        entries = [m for m in _list(metrics.get(key)) if isinstance(m, dict)]
        entries.sort(key=lambda m: m.get("type") != "Primary")
        for entry in entries:
            data = _dict(entry.get("cvssData"))
            score = _score(data.get("baseScore"))
            if score is None:
                continue
            severity = _text(data.get("baseSeverity")) or _text(entry.get("baseSeverity"))
            return {
                "cvss": score,
                "cvss_version": _text(data.get("version")) or version,
                "cvss_vector": _text(data.get("vectorString")),
                "nvd_severity": severity,
            }
    return {}


def _score_11(impact: Mapping[str, Any]) -> dict[str, str]:
    """The CVSS of a 1.1 record: v3 (3.0 or 3.1, as its ``version`` says), else v2."""
    v3 = _dict(_dict(impact.get("baseMetricV3")).get("cvssV3"))
    score = _score(v3.get("baseScore"))
    if score is not None:
        return {
            "cvss": score,
            "cvss_version": _text(v3.get("version")) or "3.0",
            "cvss_vector": _text(v3.get("vectorString")),
            "nvd_severity": _text(v3.get("baseSeverity")),
        }
    metric = _dict(impact.get("baseMetricV2"))
    v2 = _dict(metric.get("cvssV2"))
    score = _score(v2.get("baseScore"))
    if score is not None:
        return {
            "cvss": score,
            "cvss_version": _text(v2.get("version")) or "2.0",
            "cvss_vector": _text(v2.get("vectorString")),
            "nvd_severity": _text(metric.get("severity")),
        }
    return {}


def _score(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        return None
    return f"{value:.1f}"


# -- small readers -----------------------------------------------------------------------------------------


def _cve_id(value: Any) -> str | None:
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if _CVE.match(text) else None


def _english(descriptions: Any) -> str:
    """The English description (the first one given when none is marked English), cleaned and capped."""
    texts = [d for d in _list(descriptions) if isinstance(d, dict) and isinstance(d.get("value"), str)]
    chosen = next((d for d in texts if str(d.get("lang", "")).lower().startswith("en")), texts[0] if texts else None)
    return _clean(chosen["value"], MAX_TEXT) if chosen else ""


def _clean(text: str, limit: int = MAX_FIELD) -> str:
    """Whitespace and control characters folded to single spaces, capped (feed text is untrusted)."""
    return " ".join(_CONTROL.sub(" ", text[: limit * 2]).split())[:limit]


def _text(value: Any) -> str:
    return _clean(value) if isinstance(value, str) else ""


def _join(values: list[str]) -> str:
    # NVD-CWE-noinfo and NVD-CWE-Other say that NVD could not name a weakness
    return _clean(", ".join(dict.fromkeys(v for v in values if v and not v.startswith("NVD-CWE-"))))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
