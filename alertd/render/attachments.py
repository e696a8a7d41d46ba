"""Attachments: the findings of an email as CSV and JSON, for the establishment's tools.

A cell that a spreadsheet would run as a formula is neutralised (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

ATTACHMENTS = ("findings.csv", "findings.json")
FINDING_FIELDS = (
    "severity",
    "kind",
    "indicator",
    "type",
    "reason",
    "asset",
    "feed",
    "entry",
    "title",
    "first_seen",
    "last_seen",
    "link",
    "tlp",
    "evidence",  # a software finding's: affected or unverified (empty for the others)
    "version_range",  # the published range it rests on, in the vers constraint notation (>=13.1|<13.1-49.15)
)
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def finding_records(context: Mapping[str, Any]) -> list[dict[str, str]]:
    """One record per alert of an :func:`email_context`: the fields of :data:`FINDING_FIELDS`, as shown.

    The indicator is defanged and feed text scrubbed exactly as in the body; dates are ISO 8601.
    """
    return [
        {
            "severity": a["severity"],
            "kind": a["kind"],
            "indicator": a["indicator"],
            "type": a["indicator_type"],
            "reason": a["reason"],
            "asset": a["asset"],
            "feed": a["feed"],
            "entry": a["entry"],
            "title": a["title"],
            "first_seen": a["first_seen_iso"],
            "last_seen": a["last_seen_iso"],
            "link": a["link"] or "",
            "tlp": a["tlp"].label,
            "evidence": a["version_evidence"],
            "version_range": a["version_range"],
        }
        for a in context["alerts"]
    ]


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def findings_csv(records: Sequence[Mapping[str, str]]) -> str:
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


def findings_json(context: Mapping[str, Any], records: Sequence[Mapping[str, str]]) -> str:
    """The findings as one JSON document: the TLP marking, the establishment, and one object per alert."""
    document = {
        "tlp": context["tlp_label"],
        "establishment": {"id": context["establishment"]["id"], "name": context["establishment"]["name"]},
        "generated": context["generated_iso"],
        "findings": [
            {**record, "details": alert["details"]} for record, alert in zip(records, context["alerts"], strict=True)
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
