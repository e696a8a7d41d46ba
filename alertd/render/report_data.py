"""A report's figures as data for the ministry's own tools (README "Reports"): one JSON object with stable keys,
or one long CSV table ``section,key,period,value``. Codes, not words: a severity is ``imminent``, a kind
``exploited-vulnerability``, a category its FINESS code.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

from alertd.domain.report import Change, Figures, Report, change, months_compared
from alertd.render.headers import clean_header

CSV_COLUMNS = ("section", "key", "period", "value")
# The figures compared with the previous period's: the counts, and every breakdown key by key.
_SCALARS = ("warnings", "establishments", "renotifications")
_BREAKDOWNS = ("by_month", "by_severity", "by_kind", "by_feed", "by_region", "by_category")


LABEL_CHARS = 200  # the store cuts a feed's text to 100 characters; a category's label adds its nomenclature's


def shown(label: str) -> str:
    """A label as the page and the CSV show it: one line, without control, bidirectional or invisible characters
    (what a feed wrote into a malware family's name stays text, and reads as it is)."""
    return clean_header(label, LABEL_CHARS)


def _shown(counts: Mapping[str, int] | tuple[tuple[str, int], ...]) -> dict[str, int]:
    """Counts by their shown labels (two labels that differ only by what is stripped are summed)."""
    out: dict[str, int] = {}
    for key, n in counts.items() if isinstance(counts, Mapping) else counts:
        out[shown(key)] = out.get(shown(key), 0) + n
    return out


def last_day(f: Figures) -> date:
    """The last day a period holds (its end is the day after)."""
    return f.period.end - timedelta(days=1)


def figures_dict(f: Figures) -> dict[str, Any]:
    """One period's figures as a JSON object."""
    acks = f.acks
    return {
        "from": f.period.start.isoformat(),
        "to": last_day(f).isoformat(),
        "warnings": f.warnings,
        "establishments": f.establishments,
        "renotifications": f.renotifications,
        "by_month": {m.strftime("%Y-%m"): n for m, n in f.by_month},
        "by_severity": {s.label: n for s, n in f.by_severity.items()},
        "by_kind": {str(k): n for k, n in f.by_kind.items()},
        "by_feed": _shown(f.by_feed),
        "by_region": _shown(f.by_region),
        "by_category": _shown(f.by_category),
        "top_cves": _shown(f.top_cves),
        "top_malware": _shown(f.top_malware),
        "deliveries": {
            "sent_first_time": f.deliveries.sent_first_time,
            "sent_after_retries": f.deliveries.sent_after_retries,
            "failed_for_good": f.deliveries.failed_for_good,
            "waiting": f.deliveries.waiting,
        },
        "acknowledgements": {
            "emails": acks.emails,
            "answered": acks.answered,
            "rate": round(acks.rate, 4) if acks.rate is not None else None,
            "median_seconds": acks.median_seconds,
            "false_positives": acks.false_positives,
        },
        "proposals": {
            "proposed": f.proposals.proposed,
            "accepted": f.proposals.accepted,
            "rejected": f.proposals.rejected,
            "open": f.proposals.open,
        },
    }


def _change_dict(c: Change) -> dict[str, Any]:
    return {"delta": c.delta, "percent": round(c.percent, 1) if c.percent is not None else None}


def changes(current: Mapping[str, Any], previous: Mapping[str, Any], *, months: bool) -> dict[str, Any]:
    """Each compared figure against the previous period's: the counts, and each breakdown's keys (the months
    paired by position, the first month with the previous period's first, when ``months``; else null)."""
    out: dict[str, Any] = {name: _change_dict(change(current[name], previous[name])) for name in _SCALARS}
    for name in _BREAKDOWNS:
        now, before = current[name], previous[name]
        if name == "by_month":
            pairs = zip(now.items(), before.values(), strict=True) if months else None
            out[name] = {month: _change_dict(change(n, b)) for (month, n), b in pairs} if pairs else None
        else:
            keys = list(now) + [k for k in before if k not in now]
            out[name] = {k: _change_dict(change(now.get(k, 0), before.get(k, 0))) for k in keys}
    return out


def report_dict(report: Report) -> dict[str, Any]:
    """The report as one JSON object: ``current``, ``previous`` (null unless asked for) and ``change``."""
    current = figures_dict(report.current)
    previous = figures_dict(report.previous) if report.previous is not None else None
    return {
        "current": current,
        "previous": previous,
        "change": (
            changes(current, previous, months=months_compared(report.current.period, report.previous.period))
            if report.previous is not None and previous is not None
            else None
        ),
    }


def report_json(report: Report) -> str:
    """The report as JSON text (UTF-8, indented)."""
    return json.dumps(report_dict(report), ensure_ascii=False, indent=2) + "\n"


def _rows(section: str, value: Any, period: str) -> Iterator[tuple[str, str, str, Any]]:
    """One figure as rows: a number is one row; a mapping one row per key; a change two rows (``change``,
    ``change_percent``)."""
    items = value.items() if isinstance(value, Mapping) and not _is_change(value) else [("", value)]
    for key, v in items:
        if _is_change(v):
            yield section, key, period, v["delta"]
            yield section, key, f"{period}_percent", "" if v["percent"] is None else v["percent"]
        else:
            yield section, key, period, "" if v is None else v


def _is_change(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"delta", "percent"}


def report_csv(report: Report) -> str:
    """The report as one long CSV table, ``section,key,period,value``: ``period`` is ``current``, ``previous``,
    ``change`` (the difference) or ``change_percent`` (empty when the previous figure was 0)."""
    data = report_dict(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for period in ("current", "previous", "change"):
        figures = data[period]
        if figures is None:
            continue
        for section, value in figures.items():
            if section in ("from", "to"):
                writer.writerow(("period", section, period, value))
                continue
            writer.writerows(_rows(section, value, period))
    return out.getvalue()
