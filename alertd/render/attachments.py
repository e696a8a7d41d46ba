"""Attachments: the findings of an email as CSV and JSON, for the establishment's tools.

Tools need the values as the feed gave them (an address to block, a domain to search in the logs), so the
attachments carry them raw: the indicator, the asset, the entry, the title, the link and the details, as the feed
gave them. A person pasting from a spreadsheet needs them harmless, so the fields that hold a URL or a host have a
defanged copy beside them (``indicator_defanged``, ``asset_defanged``, ``link_defanged``, ``details_defanged``),
written as the email shows them. The raw values never reach the text or HTML parts: they are read here from the
alerts, not from the template context.

A cell that a spreadsheet would run as a formula is neutralised (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from alertd.domain.facts import Fact
from alertd.domain.values import Alert

ATTACHMENTS = ("findings.csv", "findings.json")
FINDING_FIELDS = (
    "severity",
    "kind",
    "indicator",  # raw: as the feed gave it (refanged), for tools
    "type",
    "reason",
    "asset",  # raw: as the registry declares it
    "feed",
    "entry",
    "title",
    "first_seen",
    "last_seen",
    "link",
    "tlp",
    "evidence",  # a software finding's: affected or unverified (empty for the others)
    "version_range",  # the published range it rests on, in the vers constraint notation (>=13.1|<13.1-49.15)
    "indicator_defanged",  # the same values as the email shows them: safe to paste, never clickable
    "asset_defanged",
    "link_defanged",
)
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def finding_records(context: Mapping[str, Any], alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """One record per alert of an :func:`email_context`, in its order: the fields of :data:`FINDING_FIELDS`, then
    ``details`` (the feed's facts shown, raw) and ``details_defanged`` (as the email shows them).

    ``alerts`` are the alerts the context was made of, in any order; dates are ISO 8601. Raises ValueError when
    a context alert is not among them.
    """
    by_key: dict[str, Alert] = {a.finding.key: a for a in alerts}
    records = []
    for item in context["alerts"]:
        alert = by_key.get(item["key"])
        if alert is None:
            raise ValueError(f"finding {item['key']!r} of the email is not among the alerts given")
        f = alert.finding
        raw_facts = {fact.value: text for fact, text in f.facts.known() if fact is not Fact.VERSION}
        records.append(
            {
                "severity": item["severity"],
                "kind": item["kind"],
                "indicator": f.indicator.value,
                "type": item["indicator_type"],
                "reason": item["reason"],
                "asset": f.asset,
                "feed": item["feed"],
                "entry": f.entry,
                "title": f.title,
                "first_seen": item["first_seen_iso"],
                "last_seen": item["last_seen_iso"],
                "link": f.link or "",
                "tlp": item["tlp"].label,
                "evidence": item["version_evidence"],
                "version_range": item["version_range"],
                "indicator_defanged": item["indicator"],
                "asset_defanged": item["asset"],
                "link_defanged": item["link"] or "",
                # The details the email shows, in the same order: raw, and as shown.
                "details": {key: raw_facts.get(key, text) for key, text in item["details"].items()},
                "details_defanged": item["details"],
            }
        )
    return records


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def findings_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV with a header line; a cell that a spreadsheet would run as a formula is prefixed with '.

    It starts with a byte-order mark: without one, Excel reads UTF-8 as the local code page and garbles accents
    (read it with the ``utf-8-sig`` codec).
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FINDING_FIELDS)
    for record in records:
        writer.writerow([_cell(record[name]) for name in FINDING_FIELDS])
    return out.getvalue()


def findings_json(context: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """The findings as one JSON document: the TLP marking, the establishment, and one object per alert (its raw
    values, their defanged copies and its details)."""
    document = {
        "tlp": context["tlp_label"],
        "establishment": {"id": context["establishment"]["id"], "name": context["establishment"]["name"]},
        "generated": context["generated_iso"],
        "findings": [dict(record) for record in records],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
