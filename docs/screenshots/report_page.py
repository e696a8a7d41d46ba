"""Take the README's screenshot of the report's page, as headless Chromium shows it at 900 px.

    .venv/bin/python docs/screenshots/report_page.py

renders the French page of a year (2026 against 2025) from figures written below, of the size a regional CERT
sees (730 warnings against 369), as ``alertd report --compare-previous`` renders it
(:func:`alertd.render.report_html.report_page`), and writes ``report/page-900.png`` next to this script (the top
of the page, in the palette of ``make_screenshots.py``). Needs Debian's chromium.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "browser")]
import make_screenshots  # noqa: E402
from chromium import chromium, show  # noqa: E402

from alertd.config.finess import category_labels  # noqa: E402
from alertd.domain.report import (  # noqa: E402
    UNKNOWN,
    Acknowledgements,
    Deliveries,
    Figures,
    Period,
    Proposals,
    Report,
    ReportKind,
)
from alertd.domain.values import Severity  # noqa: E402
from alertd.render.environment import make_environment  # noqa: E402
from alertd.render.report_html import report_page  # noqa: E402

OUT = HERE / "report"
YEAR = Period(date(2026, 1, 1), date(2027, 1, 1))
CURRENT_MONTHS = (48, 51, 66, 59, 62, 55, 41, 38, 70, 81, 77, 82)  # 730
PREVIOUS_MONTHS = (22, 25, 31, 28, 35, 30, 24, 19, 36, 39, 40, 40)  # 369


def _figures(period: Period, months: tuple[int, ...], scale: float) -> Figures:
    def part(n: int) -> int:
        return round(n * scale)

    return Figures(
        period=period,
        warnings=sum(months),
        establishments=part(412),
        renotifications=part(157),
        by_month=tuple(zip(period.months(), months, strict=True)),
        by_severity={Severity.IMMINENT: part(231), Severity.CRITICAL: part(268), Severity.HIGH: part(174)}
        | {Severity.INFO: sum(months) - part(231) - part(268) - part(174)},
        by_kind={
            ReportKind.EXPLOITED: part(262),
            ReportKind.COMPROMISE: part(188),
            ReportKind.VULNERABILITY: part(121),
            ReportKind.EXPOSURE: part(84),
            ReportKind.ADVISORY: sum(months) - part(262) - part(188) - part(121) - part(84) - part(23),
            ReportKind.LEAK: part(23),
        },
        by_feed={"kev": part(262), "feodo": part(131), "nvd": part(121), "shadowserver": part(84), "urlhaus": part(57)},
        by_region={
            "Occitanie": part(143),
            "Nouvelle-Aquitaine": part(131),
            "Auvergne-Rhône-Alpes": part(118),
            "Provence-Alpes-Côte d'Azur": part(97),
            "Île-de-France": part(92),
            "Grand Est": part(71),
            UNKNOWN: part(12),
        },
        by_category={"355": part(301), "101": part(122), "106": part(97), "365": part(88), "128": part(55)},
        top_cves=(
            ("CVE-2023-4966", part(61)),
            ("CVE-2024-3400", part(44)),
            ("CVE-2023-46805", part(39)),
            ("CVE-2024-21887", part(37)),
            ("CVE-2023-20198", part(22)),
            ("CVE-2024-1709", part(17)),
        ),
        top_malware=(("Pikabot", part(41)), ("QakBot", part(33)), ("Lumma", part(20))),
        deliveries=Deliveries(part(598), part(21), part(3), 0),
        acks=Acknowledgements(
            emails=part(640), answered=part(471), median_seconds=5.2 * 3600 / scale, false_positives=part(19)
        ),
        proposals=Proposals(proposed=part(19), accepted=part(12), rejected=part(5), open=part(2)),
    )


def page_html() -> str:
    """The French page of 2026 against 2025."""
    report = Report(
        _figures(YEAR, CURRENT_MONTHS, 1.0),
        _figures(YEAR.previous(), PREVIOUS_MONTHS, 369 / 730),
    )
    return report_page(
        make_environment(None), report, language="fr", organisation="CERT Santé", categories=category_labels()
    )


def main() -> int:
    """Write the screenshot; print the file written."""
    OUT.mkdir(exist_ok=True)
    html = page_html()
    with tempfile.TemporaryDirectory(prefix="alertd-report-shot-") as tmp, chromium() as browser:
        page = browser.new_page(viewport={"width": 900, "height": 900})
        show(page, html, Path(tmp) / "report.html")
        target = OUT / "page-900.png"
        target.write_bytes(make_screenshots.top_of(page, 900))
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")
        page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
