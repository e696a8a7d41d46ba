"""``alertd report``: the figures of a period, as a page with charts, CSV or JSON (README "Reports").

Reads the store as ``history`` does (never makes one, safe beside a running daemon); the establishments' regions
and categories are the registry's now.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alertd.config.files import Config
from alertd.config.finess import category_labels
from alertd.domain.report import Period, Report
from alertd.render.catalog import LANGUAGES
from alertd.render.environment import make_environment
from alertd.render.report_data import report_csv, report_json
from alertd.render.report_html import report_page
from alertd.service.recovery import EXIT_OK, EXIT_USAGE
from alertd.store.reporting import figures
from alertd.store.sqlite import Store

FORMATS = ("html", "csv", "json")


def add_parser(sub: Any) -> None:
    """``alertd report``'s arguments."""
    report = sub.add_parser("report", help="the warnings of a period in figures and charts (HTML, CSV or JSON)")
    report.add_argument(
        "--from", dest="start", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD", help="first day"
    )
    report.add_argument(
        "--to",
        dest="last",
        required=True,
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="last day, included (--from 2026-01-01 --to 2026-12-31: the year 2026); days in the configured timezone",
    )
    report.add_argument(
        "--compare-previous",
        action="store_true",
        help="also the same span just before (for whole months, as many months: the previous year of a year)",
    )
    report.add_argument("--format", choices=FORMATS, default="html", help="default: html")
    report.add_argument("--language", choices=LANGUAGES, default="fr", help="the page's language (default: fr)")
    report.add_argument("-o", "--output", metavar="FILE", help="write it there (default: stdout)")


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    """Write the report the arguments ask for; 2 for a period that ends before it starts."""
    if args.last < args.start:
        print(f"alertd: --to {args.last} is before --from {args.start}", file=sys.stderr)
        return EXIT_USAGE
    period = Period(args.start, args.last + timedelta(days=1))
    registry = config.registry.establishments
    regions = {e.id: e.region for e in registry.values()}
    categories = {e.id: e.category for e in registry.values()}
    tz = config.settings.timezone
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        current = figures(store.db, period, tz, regions, categories)
        previous = figures(store.db, period.previous(), tz, regions, categories) if args.compare_previous else None
    finally:
        store.close()
    report = Report(current, previous)
    if args.format == "json":
        text = report_json(report)
    elif args.format == "csv":
        text = report_csv(report)
    else:
        env = make_environment(config.settings.templates_dir)
        text = report_page(
            env,
            report,
            language=args.language,
            organisation=config.settings.organisation,
            categories=category_labels(),
        )
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    Path(args.output).write_text(text, encoding="utf-8", newline="")
    return EXIT_OK
