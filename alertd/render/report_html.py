"""The report as a page a person would rather look at than read (README "Reports"): one self-contained HTML file,
its charts inlined as SVG (:mod:`~alertd.render.report_charts`), each beside a table of its figures, in French or
English, that prints on A4.

Every word comes from the catalogs (context ``bulletin``, keys ``report.*``); numbers, months and durations are
written by Babel in the page's language ("1 234", "janvier 2026", "+200 %"). The page has no script and loads
nothing: no link, no image, no font (the charts' letters are paths). Pure: figures in, text out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import jinja2
from babel.dates import format_date, format_timedelta
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup

from alertd.domain.report import UNKNOWN, Figures, Report, change, month_labels_need_the_year, months_compared
from alertd.render.catalog import Words, words
from alertd.render.environment import BULLETIN
from alertd.render.report_charts import bar_chart
from alertd.render.report_data import shown

PAGE = "report.html.j2"
_NARROW_NBSP = "\u202f"


@dataclass(frozen=True, slots=True)
class Block:
    """One section of the page: a title, a chart (or none), and the table of its figures."""

    id: str
    title: str
    chart: Markup | None
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


class _Writer:
    """Numbers, percentages, months and durations as the page's language writes them."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.words: Words = words(language)

    def say(self, key: str, **values: object) -> str:
        return self.words.word(BULLETIN, f"report.{key}").format(**values)

    def number(self, n: float) -> str:
        return str(format_decimal(n, locale=self.language))

    def percent(self, share: float, *, signed: bool = False) -> str:
        text = str(format_percent(share, locale=self.language))
        if signed and share > 0:
            text = f"+{text}"
        # French puts a narrow no-break space before the sign (CLDR writes a no-break space).
        return text.replace("\xa0%", f"{_NARROW_NBSP}%") if self.language == "fr" else text

    def change(self, now: int, before: int) -> str:
        c = change(now, before)
        delta = f"+{self.number(c.delta)}" if c.delta > 0 else self.number(c.delta)
        return delta if c.percent is None else f"{delta} ({self.percent(c.percent / 100, signed=True)})"

    def month(self, day: date, pattern: str = "LLLL y") -> str:
        return str(format_date(day, pattern, locale=self.language))

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return self.say("not-applicable")
        return str(format_timedelta(timedelta(seconds=seconds), threshold=2, locale=self.language))

    def day(self, day: date) -> str:
        return self.words.day(day)


def report_page(
    env: jinja2.Environment, report: Report, *, language: str, organisation: str, categories: Mapping[str, str]
) -> str:
    """The report's page in ``language``; ``categories`` gives a category code's label (the FINESS
    nomenclature), a code it lacks is shown as it is."""
    w = _Writer(language)
    cur, prev = report.current, report.previous
    last = cur.period.end - timedelta(days=1)
    context: dict[str, Any] = {
        "lang": language,
        "organisation": organisation,
        "title": w.say("title"),
        "period": w.say("period", start=w.day(cur.period.start), end=w.day(last)),
        "previous": (
            w.say("previous", start=w.day(prev.period.start), end=w.day(prev.period.end - timedelta(days=1)))
            if prev is not None
            else ""
        ),
        "blocks": _blocks(w, cur, prev, categories),
        "none": w.say("none"),
    }
    return env.get_template(PAGE).render(context)


def _columns(w: _Writer, first: str, compared: bool) -> tuple[str, ...]:
    return (first, w.say("current"), w.say("previous-column"), w.say("change")) if compared else (first, w.say("count"))


def _breakdown(
    w: _Writer,
    key: str,
    first: str,
    current: Mapping[Any, int],
    previous: Mapping[Any, int] | None,
    label: Callable[[Any], str],
    *,
    chart: bool = True,
) -> Block:
    """A breakdown's block: a bar per key (largest first), and a row per key with the previous period's figure
    and the change when compared."""
    keys = list(current) + [k for k in (previous or {}) if k not in current]
    rows = tuple(
        _row(w, shown(label(k)), current.get(k, 0), previous.get(k, 0) if previous is not None else None) for k in keys
    )
    svg = None
    if chart and current:
        svg = Markup(bar_chart([shown(label(k)) for k in current], list(current.values()), w.number))  # noqa: S704 - matplotlib's own SVG
    return Block(key, w.say(key), svg, _columns(w, first, previous is not None), rows)


def _row(w: _Writer, label: str, now: int, before: int | None) -> tuple[str, ...]:
    if before is None:
        return (label, w.number(now))
    return (label, w.number(now), w.number(before), w.change(now, before))


def _blocks(w: _Writer, cur: Figures, prev: Figures | None, categories: Mapping[str, str]) -> list[Block]:
    compared = prev is not None
    summary = [
        ("warnings", cur.warnings, prev.warnings if prev else None),
        ("establishments", cur.establishments, prev.establishments if prev else None),
        ("renotifications", cur.renotifications, prev.renotifications if prev else None),
    ]
    blocks = [
        Block(
            "summary",
            w.say("summary"),
            None,
            _columns(w, w.say("figure"), compared),
            tuple(_row(w, w.say(k), now, before) for k, now, before in summary),
            note=w.say("warnings-note"),
        )
    ]
    months = [m for m, _ in cur.by_month]
    now_months = [n for _, n in cur.by_month]
    # The months pair by position only when both periods are as many whole months; else they are not compared.
    by_month = prev is not None and months_compared(cur.period, prev.period)
    before_months = [n for _, n in prev.by_month] if prev is not None and by_month else None
    month_rows = tuple(
        _row(w, w.month(m), n, before_months[i] if before_months is not None else None)
        for i, (m, n) in enumerate(cur.by_month)
    )
    legend = (w.say("current"), w.say("previous-column"))
    month_chart = bar_chart(
        [w.month(m, "LLL yy" if month_labels_need_the_year(cur.period) else "LLL") for m in months]
        if len(months) > 1
        else [w.month(m) for m in months],
        now_months,
        w.number,
        previous=before_months,
        legend=legend,
        horizontal=False,
    )
    blocks.append(
        Block(
            "by-month",
            w.say("by-month"),
            Markup(month_chart),  # noqa: S704 - matplotlib's own SVG
            _columns(w, w.say("month"), by_month),
            month_rows,
        )
    )
    unknown = w.say("unknown")

    def place(code: str) -> str:
        return unknown if code == UNKNOWN else code

    def category(code: str) -> str:
        return unknown if code == UNKNOWN else f"{code} — {categories[code]}" if code in categories else code

    blocks += [
        _breakdown(
            w,
            "by-severity",
            w.say("severity"),
            cur.by_severity,
            prev.by_severity if prev else None,
            w.words.severity,
        ),
        _breakdown(
            w,
            "by-kind",
            w.say("kind"),
            cur.by_kind,
            prev.by_kind if prev else None,
            lambda k: w.say(f"kind.{k}"),
        ),
        _breakdown(w, "by-region", w.say("region"), cur.by_region, prev.by_region if prev else None, place),
        _breakdown(
            w,
            "by-category",
            w.say("category"),
            cur.by_category,
            prev.by_category if prev else None,
            category,
            chart=False,
        ),
        _breakdown(w, "by-feed", w.say("feed"), cur.by_feed, prev.by_feed if prev else None, str, chart=False),
        _breakdown(w, "top-cves", w.say("cve"), dict(cur.top_cves), None, str),
        _breakdown(w, "top-malware", w.say("malware"), dict(cur.top_malware), None, str, chart=False),
    ]
    blocks.append(_deliveries(w, cur, prev))
    blocks.append(_responses(w, cur, prev))
    return blocks


def _pairs(w: _Writer, rows: Sequence[tuple[str, int, int | None]]) -> tuple[tuple[str, ...], ...]:
    return tuple(_row(w, w.say(key), now, before) for key, now, before in rows)


def _deliveries(w: _Writer, cur: Figures, prev: Figures | None) -> Block:
    names = ("sent_first_time", "sent_after_retries", "failed_for_good", "waiting")
    rows = [
        (n.replace("_", "-"), getattr(cur.deliveries, n), getattr(prev.deliveries, n) if prev else None) for n in names
    ]
    return Block(
        "deliveries",
        w.say("deliveries"),
        None,
        _columns(w, w.say("figure"), prev is not None),
        _pairs(w, rows),
        note=w.say("deliveries-note"),
    )


def _responses(w: _Writer, cur: Figures, prev: Figures | None) -> Block:
    a, b = cur.acks, prev.acks if prev else None
    rows = list(
        _pairs(
            w,
            [
                ("ack-emails", a.emails, b.emails if b else None),
                ("answered", a.answered, b.answered if b else None),
                ("false-positives", a.false_positives, b.false_positives if b else None),
            ],
        )
    )
    na = w.say("not-applicable")

    def rate(x: float | None) -> str:
        return w.percent(x) if x is not None else na

    extra = [
        (w.say("ack-rate"), rate(a.rate), rate(b.rate) if b else None),
        (w.say("median"), w.duration(a.median_seconds), w.duration(b.median_seconds) if b else None),
    ]
    for label, now, before in extra:
        rows.append((label, now) if before is None else (label, now, before, na))
    p, q = cur.proposals, prev.proposals if prev else None
    rows += _pairs(
        w,
        [
            ("proposals", p.proposed, q.proposed if q else None),
            ("accepted", p.accepted, q.accepted if q else None),
            ("rejected", p.rejected, q.rejected if q else None),
            ("open", p.open, q.open if q else None),
        ],
    )
    return Block("acks", w.say("acks"), None, _columns(w, w.say("figure"), prev is not None), tuple(rows))
