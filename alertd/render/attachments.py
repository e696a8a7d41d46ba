"""Attachments: the findings of an email as CSV and JSON, for the establishment's tools.

A person opening them in a spreadsheet or a text editor needs them harmless, so each field holds its value as the
email shows it: every URL, host and address defanged (``indicator``, ``asset``, ``entry``, ``title``, ``link``,
``details``), and ``warnings`` the codes of what the email warns of (``mixed-script-host``). Tools need the values
as the feed gave them (an address to block, a domain to search in the logs), so each of those fields has a raw
copy beside it, its name ending in ``_raw``. The raw values never reach the text or HTML parts: they are read here
from the alerts, not from the template context.

A cell that a spreadsheet would run as a formula is neutralised (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from alertd.domain.facts import Fact
from alertd.domain.values import Alert

ATTACHMENTS = ("findings.csv", "findings.json")
FINDING_FIELDS = (
    "severity",
    "kind",
    "indicator",  # as the email shows it: defanged, safe to paste, never clickable
    "type",
    "reason",
    "asset",  # as the email shows it (a network defanged)
    "feed",
    "entry",  # defanged, as are the title and the link
    "title",
    "first_seen",
    "last_seen",
    "link",
    "tlp",
    "evidence",  # a software finding's: affected or unverified (empty for the others)
    "version_range",  # the published range it rests on, in the vers constraint notation (>=13.1|<13.1-49.15)
    "warnings",  # the codes of what the email warns of (mixed-script-host), space-separated in the CSV
    "indicator_raw",  # the same values as the feed gave them (refanged) or the registry declares them, for tools
    "asset_raw",
    "entry_raw",
    "title_raw",
    "link_raw",
)
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def finding_records(context: Mapping[str, Any], alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """One record per alert of an :func:`email_context`, in its order: the fields of :data:`FINDING_FIELDS`, then
    ``details`` (the feed's facts as the email shows them) and ``details_raw`` (as the feed gave them).

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
                "indicator": item["indicator"],
                "type": item["indicator_type"],
                "reason": item["reason"],
                "asset": item["asset"],
                "feed": item["feed"],
                "entry": item["entry"],
                "title": item["title"],
                "first_seen": item["first_seen_iso"],
                "last_seen": item["last_seen_iso"],
                "link": item["link"] or "",
                "tlp": item["tlp"].label,
                "evidence": item["version_evidence"],
                "version_range": item["version_range"],
                "warnings": list(item["warning_codes"]),
                "indicator_raw": f.indicator.value,
                "asset_raw": f.asset,
                "entry_raw": f.entry,
                "title_raw": f.title,
                "link_raw": f.link or "",
                # The details the email shows, in the same order: as shown, and raw.
                "details": item["details"],
                "details_raw": {key: raw_facts.get(key, text) for key, text in item["details"].items()},
            }
        )
    return records


def _cell(value: str | list[str]) -> str:
    if isinstance(value, list):  # codes (warnings): space-separated, as a shell or awk splits them
        value = " ".join(value)
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
    """The findings as one JSON document: the TLP marking, the establishment, and one object per alert (its values
    as the email shows them, their raw copies, its details and warnings)."""
    document = {
        "tlp": context["tlp_label"],
        "establishment": {"id": context["establishment"]["id"], "name": context["establishment"]["name"]},
        "generated": context["generated_iso"],
        "findings": [dict(record) for record in records],
    }
    # orjson: json.dumps with indent runs the pure-Python encoder, a tenth of an email's rendering time.
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode("utf-8")
