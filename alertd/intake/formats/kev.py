"""The CISA Known Exploited Vulnerabilities catalog (format ``cisa-kev``): one observation per CVE.

Both layouts CISA has published are read: the current one (with ``knownRansomwareCampaignUse`` and
``cwes``) and the 2023 one (CRLF, nine fields per entry).

The catalogue names a vendor and a product, never versions: its product is ``NAMED``, so a KEV entry alone never
says that a declared version is affected (the matcher judges it with the ranges other sources published).
"""

from __future__ import annotations

from typing import Any

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.grammar import CVE_ID
from alertd.domain.values import Indicator, IndicatorType, Observation, Product, ProductStatus
from alertd.intake.formats import fields
from alertd.intake.formats.entries import bounded_entries
from alertd.intake.formats.jsondoc import load_json, utc_date

NVD_LINK = "https://nvd.nist.gov/vuln/detail/{cve}"


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """The catalog's vulnerabilities as observations; entries without a CVE id are skipped.

    Raises :class:`ParseError` when the body is not JSON or has no ``vulnerabilities`` list.
    """
    data = load_json(feed, body, "the KEV catalog", "check that the url serves known_exploited_vulnerabilities.json")
    vulnerabilities = data.get("vulnerabilities") if isinstance(data, dict) else None
    if not isinstance(vulnerabilities, list):
        raise ParseError(
            f"feed {feed.id!r}: no 'vulnerabilities' list in the JSON document; this does not look like the "
            "CISA KEV catalog (format 'cisa-kev')"
        )
    return bounded_entries(feed, (_observation(feed, item) for item in vulnerabilities if isinstance(item, dict)))


def _observation(feed: FeedSpec, item: dict[str, Any]) -> Observation | None:
    # Each field is read up to the feed's max_field_bytes: the catalogue's are sentences, an attacker's need not be.
    limit = feed.max_field_bytes
    cve = fields.text(item.get("cveID"), limit).upper()
    if not CVE_ID.match(cve):
        return None
    vendor, product = fields.text(item.get("vendorProject"), limit), fields.text(item.get("product"), limit)
    date_added = fields.text(item.get("dateAdded"), limit)
    facts: dict[Fact | str, str] = {
        "vendor": vendor,
        "product": product,
        Fact.DATE_ADDED: date_added,
        Fact.DUE_DATE: fields.text(item.get("dueDate"), limit),
        Fact.REQUIRED_ACTION: fields.text(item.get("requiredAction"), limit),
        Fact.RANSOMWARE: fields.text(item.get("knownRansomwareCampaignUse"), limit) or "Unknown",
        Fact.NOTES: fields.text(item.get("notes"), limit),
    }
    cwes = item.get("cwes")
    if isinstance(cwes, list) and cwes:
        facts[Fact.CWES] = ", ".join(str(c) for c in cwes)[:limit]
    # The observation's text is read by the matcher only; the finding keeps the catalogue's words as its summary.
    summary = fields.summary(item.get("shortDescription"))
    if summary:
        facts[Fact.SUMMARY] = summary
    return Observation(
        feed=feed.id,
        entry=cve,
        kind=feed.kind,
        title=fields.text(item.get("vulnerabilityName"), limit) or cve,
        indicators=(Indicator(IndicatorType.CVE, cve),),
        products=(Product(vendor, product, status=ProductStatus.NAMED),) if vendor and product else (),
        text=fields.text(item.get("shortDescription"), limit),
        link=NVD_LINK.format(cve=cve),
        published=utc_date(date_added),
        facts=Facts.of(facts),
        exploited=True,  # the catalogue lists only vulnerabilities exploited in the wild
    )
