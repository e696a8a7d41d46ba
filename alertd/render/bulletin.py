"""The bulletin's shape: alerts grouped into blocks, one summary line per block, and what fits the size budget.

Alerts of one kind from one source about one asset (27 KEV entries on one product, the addresses of one network
a blocklist lists) are one block: their common facts and their steps are told once, and a table holds what
differs from one alert to the next. An advisory is one block per bulletin, however many ways it matched. The
summary table comes first, one line per block: its level, what it is, which asset, one short action and by when.

Works on the alerts' template values (:func:`alertd.render.context.email_context` builds them); no word is
written here, every one comes from the catalogs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alertd.domain.codes import SourceStatus
from alertd.domain.facts import Fact
from alertd.domain.values import Alert, FeedKind, Severity
from alertd.render import actions
from alertd.render.catalog import Words

# The columns of a block's table when it holds several alerts, by feed kind: a row key of the alerts' detail
# rows (render/context.py), "due" (KEV's deadline). A column shows only when its values differ from one alert to
# the next (otherwise it is a common fact, told once above the table); at most MAX_COLUMNS, so that the table
# fits a 400 px screen. What differs beyond them is in the attachments.
GROUP_COLUMNS: Mapping[FeedKind, tuple[str, ...]] = {
    FeedKind.VULNERABILITY: ("indicator", "title", "attr:date_added", "due", "published"),
    FeedKind.COMPROMISE: ("indicator", "attr:malware", "attr:port", "attr:first_seen", "first_seen"),
    FeedKind.EXPOSURE: ("indicator", "attr:port", "attr:first_seen", "first_seen"),
    FeedKind.LEAK: ("indicator", "title", "published", "attr:website"),
    FeedKind.ADVISORY: ("indicator", "why", "product", "version"),
}
MAX_COLUMNS = 4
# Facts that differ from one row to the next and are told in the table (or the attachments), never in the steps.
_PER_ROW = frozenset({Fact.DUE_DATE, Fact.DATE_ADDED, Fact.FIRST_SEEN, Fact.PORT, Fact.CVSS})
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
# Where a long indicator may break on a narrow screen: after a space (an organisation's name is several words) and,
# in a URL, after these characters; never inside a token.
_BREAK_AFTER = re.compile(r"(?<=[/?&= ])")


def group_key(alert: Alert, item: Mapping[str, Any]) -> tuple[str, ...]:
    """The block an alert belongs to: an advisory's bulletin (feed and entry), else the same feed, kind of alert,
    asset and level, and the same words on why and on the version: what the block tells once is true of each."""
    f = alert.finding
    if f.kind is FeedKind.ADVISORY:
        return (f.feed, f.kind.value, f.entry)
    return (
        f.feed,
        item["alert_kind"],
        f.asset,
        alert.severity.label,
        str(SourceStatus.of(f.facts.status) or ""),  # an online and an offline host call for different words
        "inventory" if alert.inventory else "",
        item["reason_text"],
        item["version"] or "",
        item["evidence"] or "",
    )


def breakable(text: str) -> list[str]:
    """``text`` cut after each space, "/", "?", "&" and "=": the pieces a long indicator may wrap between (with
    ``<wbr>``), each kept whole."""
    return [piece for piece in _BREAK_AFTER.split(text) if piece]


def iso_day(text: str | None) -> date | None:
    """The day a feed wrote as ISO 8601 (``2023-11-08``, or with a time after it); None for anything else."""
    if not text or not _ISO_DAY.match(text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _cell(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"value": "", "code": False, "href": None}
    return {"value": row["value"], "code": row["code"], "href": row["href"]}


def _rows_by_key(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An alert's detail rows by key; repeated keys (references) joined into one row."""
    out: dict[str, dict[str, Any]] = {}
    for row in item["rows"]:
        if row["key"] in out:
            out[row["key"]] = {**out[row["key"]], "value": out[row["key"]]["value"] + " ; " + row["value"]}
        else:
            out[row["key"]] = dict(row)
    return out


def _same(rows: Sequence[Mapping[str, Any] | None]) -> bool:
    first = rows[0]
    if first is None:
        return all(r is None for r in rows)
    return all(r is not None and (r["value"], r["note"]) == (first["value"], first["note"]) for r in rows)


def _table(words: Words, kind: FeedKind, members: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A multi-alert block's common rows (told once) and its table (one line per alert, the columns that differ)."""
    by_key = [_rows_by_key(item) for item in members]
    keys = list(dict.fromkeys(key for rows in by_key for key in rows))
    common = [by_key[0][key] for key in keys if key != "indicator" and _same([rows.get(key) for rows in by_key])]
    dues = [members_due(item) for item in members]
    columns: list[tuple[str, str]] = []
    for key in GROUP_COLUMNS[kind]:
        if len(columns) == MAX_COLUMNS:
            break
        if key == "due":
            if any(dues) and len(set(dues)) > 1:
                columns.append((key, words.attr(Fact.DUE_DATE)))
            continue
        present = [rows.get(key) for rows in by_key]
        if key == "indicator" or (any(present) and not _same(present)):
            label = next(r["label"] for r in present if r is not None) if any(present) else key
            columns.append((key, label))
    if any(dues) and len(set(dues)) == 1 and dues[0] is not None:
        common.append({"key": "due", "label": words.attr(Fact.DUE_DATE), "value": words.day(dues[0]),
                       "note": None, "href": None, "code": False})  # fmt: skip
    lines = []
    for item, rows, due in zip(members, by_key, dues, strict=True):
        cells = []
        for key, _label in columns:
            if key == "due":
                cells.append({"value": words.day(due) if due else "", "code": False, "href": None})
            else:
                cells.append(_cell(rows.get(key)))
        lines.append({"cells": cells, "severity_color": item["severity_color"]})
    return {"common": common, "columns": [label for _key, label in columns], "lines": lines}


def members_due(item: Mapping[str, Any]) -> date | None:
    """An alert's KEV due date, when it has one that reads as a day."""
    return iso_day(item["due_date"])


def _steps(
    words: Words, pairs: Sequence[tuple[Alert, Mapping[str, Any]]], contact: str, several: str, tz: ZoneInfo
) -> list[str]:
    """A block's steps, told once: each alert's steps with the facts all of them share, duplicates dropped; the
    logs of several hosts are searched from the earliest day the source first saw one of them."""
    if len(pairs) == 1:
        return list(pairs[0][1]["actions"])
    since = min((d for alert, _ in pairs if (d := actions.first_seen_day(alert, tz)) is not None), default=None)
    shared: dict[Fact, str] | None = None
    for _alert, item in pairs:
        facts = {Fact(key): text for key, text in item["details"].items()}
        shared = facts if shared is None else {k: v for k, v in shared.items() if facts.get(k) == v}
    common = {k: v for k, v in (shared or {}).items() if k not in _PER_ROW}
    out: dict[str, None] = {}
    one, many = words.action("kev.first"), words.action("kev.first.several")
    for alert, item in pairs:
        # The link as the email shows it (defanged unless it is the CERT's or a known source's), never raw.
        steps = actions.steps(
            words, alert, several, item["asset"], common, contact, link=item["link"], tz=tz, since=since
        )
        for step in steps:
            out.setdefault(many if step == one else step, None)  # several exploited vulnerabilities: the plural
    return list(out)


def _short_action(words: Words, item: Mapping[str, Any]) -> str:
    """The one short action of a summary line: by kind, finer for a KEV entry, an unchecked version, a topic."""
    kind = item["kind"]
    keys = [kind]
    if kind == FeedKind.VULNERABILITY.value:
        keys.insert(0, kind + (".unchecked" if item["unchecked"] else ".kev" if item["kev"] else ""))
    if item["topic"]:
        keys.insert(0, f"{kind}:{item['topic']}")
    if item["inactive"]:
        keys.insert(0, f"{kind}:inactive")
    return words.word("short-action", next(k for k in keys if words.has("short-action", k)))


def _by_when(words: Words, severity: Severity, dues: Sequence[date | None], today: date, inventory: bool) -> str:
    """By when to act: at once for an imminent alert, KEV's deadline when it is ahead, else by level."""
    if severity is Severity.IMMINENT and not inventory:
        return words.word("by-when", "imminent")
    ahead = sorted(d for d in dues if d is not None and d >= today)
    if ahead:
        return words.word("by-when", "due").format(day=words.day(ahead[0]))
    if inventory and severity is Severity.IMMINENT:
        severity = Severity.CRITICAL  # backlog is not news: ranked first, without "at once"
    return words.word("by-when", severity.label)


def blocks(
    words: Words, pairs: Sequence[tuple[Alert, Mapping[str, Any]]], *, contact: str, now: datetime, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The email's blocks, most severe first, each with its summary line; ``pairs`` are the alerts with their
    template values, in the email's order (most severe first)."""
    grouped: dict[tuple[str, ...], list[tuple[Alert, Mapping[str, Any]]]] = {}
    for alert, item in pairs:
        grouped.setdefault(group_key(alert, item), []).append((alert, item))
    ordered = sorted(grouped.values(), key=lambda g: -max(a.severity for a, _ in g))  # stable: keeps alert order
    several = words.word("bulletin", "these-indicators")
    out: list[dict[str, Any]] = []
    seen_steps: dict[tuple[str, ...], int] = {}
    for number, members in enumerate(ordered, start=1):
        top_alert, first = members[0]  # the alerts come most severe first
        items = [item for _alert, item in members]
        kind = FeedKind(first["kind"])
        steps = _steps(words, members, contact, several, tz)
        same_as = seen_steps.setdefault(tuple(steps), number)
        single = len(members) == 1
        dues = [members_due(item) for item in items]
        inventory = all(alert.inventory for alert, _item in members)
        shown_assets = list(dict.fromkeys(item["asset"] for item in items))
        if kind is FeedKind.ADVISORY:
            what: dict[str, Any] = {"before": first["title"], "indicator": None, "after": ""}
        elif single:
            what = {"before": first["summary_before"], "indicator": first["indicator"],
                    "after": first["summary_after"]}  # fmt: skip
        else:
            what = {"before": words.word("group", first["alert_kind"]).format(n=len(items)), "indicator": None,
                    "after": ""}  # fmt: skip
        block: dict[str, Any] = {
            "number": number,
            "severity": top_alert.severity.label,
            "severity_label": first["severity_label"],
            "severity_color": first["severity_color"],
            "kind": first["kind"],
            "kind_label": first["kind_label"],
            "count": len(items),
            "single": single,
            "follow_up": any(item["follow_up"] for item in items),
            "meaning": first["meaning"],
            "title": first["title"] if kind is FeedKind.ADVISORY else None,
            "link": first["link"] if kind is FeedKind.ADVISORY else None,
            "link_href": first["link_href"] if kind is FeedKind.ADVISORY else None,
            # A bulletin's own words; a block of several entries (27 KEV CVEs) has no one text to quote.
            "source_summary": first["source_summary"] if single or kind is FeedKind.ADVISORY else None,
            # A deceptive host named anywhere in the block, each warning once (render/context.py, _warnings).
            "warnings": list(dict.fromkeys(w for item in items for w in item["warnings"])),
            "steps": steps,
            "same_steps_as": same_as if same_as != number else None,
            "alerts": items,
            "line": {
                "what": what,
                "asset": ", ".join(shown_assets),
                "action": _short_action(words, first),
                "by_when": _by_when(words, top_alert.severity, dues, now.astimezone(tz).date(), inventory),
            },
        }
        if single:
            block.update(rows=first["rows"], columns=[], lines=[])
        else:
            table = _table(words, kind, items)
            block.update(rows=table["common"], columns=table["columns"], lines=table["lines"])
        out.append(block)
    return out
