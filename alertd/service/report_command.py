"""``alertd report``: the figures of a period, as a page with charts, CSV or JSON (README "Reports").

A reader: the store is opened read-only (``mode=ro``, as ``alertd check`` opens it), so the report never takes the
write lock and answers while the daemon records a poll; it never makes a store nor upgrades one (a store an
earlier alertd wrote is refused: any other command upgrades it). The establishments' regions and categories are
the registry's now.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alertd.config.files import Config
from alertd.config.finess import category_labels
from alertd.domain.errors import StoreError
from alertd.domain.report import Period, Report
from alertd.domain.settings import Settings
from alertd.render.catalog import LANGUAGES
from alertd.render.environment import make_environment
from alertd.render.report_data import report_csv, report_json
from alertd.render.report_html import report_page
from alertd.service.recovery import EXIT_OK, EXIT_USAGE
from alertd.store import backup, statedir
from alertd.store.reporting import figures, period_bounds
from alertd.store.schema import SCHEMA_VERSION, stored_version
from alertd.store.sqlite import DATABASE, Store

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
    """Write the report the arguments ask for; 2 for a period that ends before it starts, or out of range."""
    if args.last < args.start:
        print(f"alertd: --to {args.last} is before --from {args.start}", file=sys.stderr)
        return EXIT_USAGE
    try:
        period = Period(args.start, args.last + timedelta(days=1))
        before = period.previous() if args.compare_previous else None
        for p in (period, before):
            if p is not None:  # the bounds, and the months the figures count by, exist
                period_bounds(p, config.settings.timezone)
    except (OverflowError, ValueError):
        print(f"alertd: the period {args.start} to {args.last} is out of range (or its previous one)", file=sys.stderr)
        return EXIT_USAGE
    registry = config.registry.establishments
    regions = {e.id: e.region for e in registry.values()}
    categories = {e.id: e.category for e in registry.values()}
    tz, links = config.settings.timezone, config.settings.web is not None
    db, close = _reader(config.settings)
    try:
        current = figures(db, period, tz, regions, categories, links=links)
        previous = figures(db, before, tz, regions, categories, links=links) if before is not None else None
    except sqlite3.Error as exc:
        raise StoreError(f"the state store cannot be read: {exc}") from exc
    finally:
        close()
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


def _reader(settings: Settings) -> tuple[sqlite3.Connection, Callable[[], None]]:
    """The store read-only, and how to close it. Where none was ever made, the empty one ``history`` reads (in
    memory: nothing written); a lost one is refused as every command refuses it."""
    path = settings.state_dir / DATABASE
    if statedir.absent(path) is not None:
        store = Store.for_settings(settings, create=False)
        return store.db, store.close
    try:
        db = backup.read_only(path)
        version = stored_version(db)
    except sqlite3.Error as exc:
        raise StoreError(f"the state store cannot be read: {exc} ({path})") from exc
    if version != SCHEMA_VERSION:
        db.close()
        raise StoreError(
            f"{path} has schema version {version}, this alertd reports from version {SCHEMA_VERSION}: "
            "start the daemon (or run alertd history --limit 1) once to upgrade it"
        )
    return db, db.close
