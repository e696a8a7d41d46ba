"""The report's page and data (render/report_html.py, report_data.py, report_charts.py): from figures built by
hand, the words, numbers and charts of each language, and the same numbers as JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date

import pytest

from alertd.domain.report import (
    UNKNOWN,
    Acknowledgements,
    Deliveries,
    Figures,
    Period,
    Proposals,
    Report,
    ReportKind,
)
from alertd.domain.values import Severity
from alertd.render.environment import make_environment
from alertd.render.report_charts import bar_chart
from alertd.render.report_data import CSV_COLUMNS, report_csv, report_dict
from alertd.render.report_html import report_page

YEAR = Period(date(2026, 1, 1), date(2027, 1, 1))


def _figures(period: Period, scale: int) -> Figures:
    months = period.months()
    return Figures(
        period=period,
        warnings=1234 * scale,
        establishments=310 * scale,
        renotifications=40 * scale,
        by_month=tuple((m, 100 * scale + i) for i, m in enumerate(months)),
        by_severity={Severity.IMMINENT: 500 * scale, Severity.CRITICAL: 734 * scale},
        by_kind={ReportKind.COMPROMISE: 1000 * scale, ReportKind.EXPLOITED: 234 * scale},
        by_feed={"feodo": 1000 * scale, "kev": 234 * scale},
        by_region={"Occitanie": 1000 * scale, UNKNOWN: 234 * scale},
        by_category={"355": 1000 * scale, UNKNOWN: 234 * scale},
        top_cves=(("CVE-2023-4966", 200 * scale),),
        top_malware=(("Pikabot", 90 * scale),),
        deliveries=Deliveries(1200 * scale, 30, 4, 0),
        acks=Acknowledgements(emails=1000, answered=875, median_seconds=5400.0, false_positives=12),
        proposals=Proposals(proposed=12, accepted=9, rejected=2, open=1),
    )


REPORT = Report(_figures(YEAR, 2), _figures(YEAR.previous(), 1))
CATEGORIES = {"355": "Centre Hospitalier (C.H.)"}


def _page(language: str, report: Report = REPORT) -> str:
    return report_page(
        make_environment(None), report, language=language, organisation="CERT Santé", categories=CATEGORIES
    )


def test_the_french_page_writes_numbers_months_and_percentages_as_french_does() -> None:
    page = _page("fr")
    assert '<html lang="fr">' in page
    assert "Du 1er janvier 2026 au 31 décembre 2026" in page
    assert "janvier 2026" in page and "décembre 2026" in page
    assert "2\u202f468" in page  # 1,234 × 2 with a narrow no-break space
    assert "+1\u202f234 (+100\u202f%)" in page  # the change, absolute and in percent
    assert "87,5\u202f%" not in page and "88\u202f%" in page  # the response rate, rounded
    assert "1 heure" in page or "90 minutes" in page
    assert "355 — Centre Hospitalier (C.H.)" in page
    assert "Inconnue" in page and UNKNOWN not in page
    for english in ("Warnings", "January", "Unknown", "Response rate", "Previous period"):
        assert english not in page


def test_the_english_page() -> None:
    page = _page("en")
    assert '<html lang="en">' in page
    assert "From 1 January 2026 to 31 December 2026" in page
    assert "2,468" in page and "+1,234 (+100%)" in page
    assert "Exploited vulnerability" in page and "Unknown" in page


def test_the_page_loads_nothing_and_runs_nothing() -> None:
    page = _page("fr")
    assert "<script" not in page.lower()
    # The charts' letters link to their glyphs within the page ("#DejaVuSans-41"); nothing else links anywhere.
    assert not re.search(r"""(?:src|href)\s*=\s*(?:"(?!#)|'(?!#)|[^"'#\s>])""", page, re.IGNORECASE)
    assert not re.search(r"url\((?!#)", page) and "@import" not in page  # a chart's clip paths are its own
    assert "http:" not in page and "https:" not in page
    assert page.count("<svg") == 5  # by month, severity, kind, region, top CVEs
    assert "@page { size: A4" in page


def test_each_chart_has_its_table() -> None:
    page = _page("en")
    for section in ("by-month", "by-severity", "by-kind", "by-region", "top-cves"):
        block = page.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
        assert "<svg" in block and "<table>" in block


def test_without_the_previous_period_there_is_no_change_column() -> None:
    page = _page("fr", Report(REPORT.current, None))
    assert "Évolution" not in page and "Période précédente" not in page


def test_a_chart_is_the_same_svg_each_time_and_needs_no_font() -> None:
    first = bar_chart(["a", "b"], [1, 2], str)
    assert first == bar_chart(["a", "b"], [1, 2], str)
    assert first.startswith("<svg ") and "<text" not in first and "font-face" not in first


def test_the_json_has_stable_keys_and_numbers() -> None:
    data = json.loads(json.dumps(report_dict(REPORT)))
    assert list(data) == ["current", "previous", "change"]
    current = data["current"]
    assert (current["from"], current["to"]) == ("2026-01-01", "2026-12-31")
    assert current["warnings"] == 2468
    assert current["by_month"]["2026-01"] == 200
    assert current["by_severity"] == {"imminent": 1000, "critical": 1468}
    assert current["by_kind"] == {"compromise": 2000, "exploited-vulnerability": 468}
    assert current["acknowledgements"] == {
        "emails": 1000,
        "answered": 875,
        "rate": 0.875,
        "median_seconds": 5400.0,
        "false_positives": 12,
    }
    assert data["change"]["warnings"] == {"delta": 1234, "percent": 100.0}
    assert data["change"]["by_month"]["2026-01"] == {"delta": 100, "percent": 100.0}
    assert report_dict(Report(REPORT.current, None))["change"] is None


def test_the_csv_is_one_long_table() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(REPORT))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert all(len(row) == 4 for row in rows)
    table = {(s, k, p): v for s, k, p, v in rows[1:]}
    assert table["warnings", "", "current"] == "2468"
    assert table["warnings", "", "previous"] == "1234"
    assert table["warnings", "", "change"] == "1234"
    assert table["warnings", "", "change_percent"] == "100.0"
    assert table["by_region", UNKNOWN, "current"] == "468"
    assert table["top_cves", "CVE-2023-4966", "current"] == "400"
    assert table["deliveries", "failed_for_good", "current"] == "4"
    assert table["acknowledgements", "median_seconds", "current"] == "5400.0"
    assert table["period", "from", "previous"] == "2025-01-01"


@pytest.mark.parametrize("before", [0])
def test_no_percentage_against_zero(before: int) -> None:
    empty = _figures(YEAR.previous(), 0)
    data = report_dict(Report(REPORT.current, empty))
    assert empty.warnings == before
    assert data["change"]["warnings"] == {"delta": 2468, "percent": None}
    assert "+2\u202f468" in _page("fr", Report(REPORT.current, empty))


def test_a_hostile_label_stays_text() -> None:
    # Labels come from feeds and the registry: matplotlib writes each in a comment beside its paths, escaped, and
    # "$" starts no formula (an unclosed one would make the report fail).
    label = "x --> <script>alert(1)</script> $\\frac$"
    svg = bar_chart([label], [3], str)
    assert "<script" not in svg
    assert "<!-- x - -&gt; &lt;script&gt;alert(1)&lt;/script&gt; $\\frac$ -->" in svg
    regions = {label: 5}
    page = _page("en", Report(replace(REPORT.current, by_region=regions), None))
    assert "<script" not in page
    assert "x --&gt; &lt;script&gt;" in page  # in the table, autoescaped


def test_months_are_compared_only_when_they_pair_one_to_one() -> None:
    # 31 January to 1 March (30 days) touches three months; the 30 days before touch one: no month is compared.
    days = Period(date(2026, 1, 31), date(2026, 3, 2))
    report = Report(_figures(days, 1), _figures(days.previous(), 1))
    assert [m.month for m, _ in report.current.by_month] == [1, 2, 3]
    assert report.previous is not None
    assert [m.month for m, _ in report.previous.by_month] == [1]
    data = report_dict(report)
    assert data["change"]["by_month"] is None
    assert data["change"]["warnings"] == {"delta": 0, "percent": 0.0}
    page = _page("en", report)
    month_table = page.split('id="by-month"', 1)[1].split("</table>", 1)[0]
    assert "Previous period" not in month_table
    # A year against the year before: January with January, by position.
    assert report_dict(REPORT)["change"]["by_month"]["2026-01"] == {"delta": 100, "percent": 100.0}


def test_month_labels_carry_the_year_when_a_short_name_is_ambiguous() -> None:
    two_years = Period(date(2025, 1, 1), date(2027, 1, 1))
    page = _page("fr", Report(_figures(two_years, 1), None))
    assert "janv. 25" in page and "janv. 26" in page
    assert "janv. 26" not in _page("fr", Report(_figures(YEAR, 1), None))
