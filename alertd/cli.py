"""The ``alertd`` command (DESIGN §5). Output for people goes to stdout; logs go to stderr as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, logs
from .config import Config, config_path, load_config
from .engine import Engine, read_documents, utcnow
from .errors import AlertdError, ConfigError
from .fetch import Fetcher, Validators
from .policy import classify
from .service import CycleReport, Daemon, run_cycle, user_agent
from .store import Store

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"alertd: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="alertd", description="Threat-alert dispatch for health establishments.")
    p.add_argument("-c", "--config", help="alertd.yaml (default: $ALERTD_CONFIG, then /etc/alertd/alertd.yaml)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--version", action="version", version=f"alertd {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the daemon in the foreground (systemd Type=notify)")
    run.add_argument("--once", action="store_true", help="one full cycle, then exit (3 if a feed or delivery failed)")
    sub.add_parser("check", help="validate every config file; exit 1 with file:line:col lines")
    poll = sub.add_parser("poll", help="fetch and match, send nothing; one JSON object per finding")
    poll.add_argument("--feed", action="append", help="only this feed (may be repeated)")
    poll.add_argument("--dry-run", action="store_true", required=True, help="required: poll never sends")
    outbox = sub.add_parser("outbox", help="list deliveries, or re-queue a failed one")
    outbox.add_argument("--state", choices=("pending", "sending", "sent", "failed"))
    outbox_sub = outbox.add_subparsers(dest="outbox_command", parser_class=_Parser)
    retry = outbox_sub.add_parser("retry", help="re-queue a failed delivery")
    retry.add_argument("id", type=int)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    path = config_path(args.config, os.environ)
    if args.command == "check":
        return cmd_check(path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    try:
        if args.command == "run":
            return asyncio.run(cmd_run_once(config)) if args.once else asyncio.run(Daemon(path, config).run())
        if args.command == "poll":
            return asyncio.run(cmd_poll(config, args.feed))
        if args.command == "outbox":
            return cmd_outbox(config, args.state, getattr(args, "id", None))
    except AlertdError as exc:
        print(f"alertd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(args.command)  # pragma: no cover - argparse only lets known commands through


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)


def cmd_check(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    print(
        f"{path}: valid — {len(config.feeds)} feeds, {len(config.registry.establishments)} establishments "
        f"in {len(config.registry.files)} files, {len(config.subscriptions)} subscriptions"
    )
    return EXIT_OK


async def cmd_run_once(config: Config) -> int:
    report = await run_cycle(config)
    print(format_cycle(config, report))
    return EXIT_FAILED if report.failed else EXIT_OK


def format_cycle(config: Config, report: CycleReport) -> str:
    """The human summary of one cycle: feeds polled, findings, emails written and where."""
    ok = sum(p.ok for p in report.polls)
    lines = [f"polled {len(report.polls)} feeds: {ok} ok, {len(report.polls) - ok} failed"]
    width = max((len(p.feed) for p in report.polls), default=4)
    for p in report.polls:
        if not p.ok:
            lines.append(f"  {p.feed:<{width}}  FAILED: {p.error}")
        elif p.not_modified:
            lines.append(f"  {p.feed:<{width}}  not modified since last poll")
        else:
            lines.append(
                f"  {p.feed:<{width}}  {p.observations} entries ({p.new} new), {p.findings} findings, "
                f"{p.suppressed} suppressed, {p.alerts} alerts"
            )
    findings = sum(p.findings for p in report.polls)
    alerts = sum(p.alerts for p in report.polls)
    lines.append(f"findings: {findings}; new alerts queued: {alerts}")
    f = report.flush
    lines.append(f"emails: {report.emails} written to the outbox; delivered {f.sent} via {report.transport}")
    if f.retrying or f.failed:
        lines.append(f"  {f.retrying} deferred for retry, {f.failed} failed: {'; '.join(dict.fromkeys(f.errors))}")
    lines.append(f"state: {config.settings.state_dir / 'alertd.sqlite3'}")
    return "\n".join(lines)


async def cmd_poll(config: Config, only: list[str] | None) -> int:
    feeds = [f for f in config.feeds if not only or f.id in only]
    unknown = set(only or ()) - {f.id for f in config.feeds}
    if unknown:
        print(f"alertd: unknown feed(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return EXIT_USAGE
    store = Store.in_state_dir(config.settings.state_dir)
    engine = Engine(config, store)
    try:
        async with Fetcher(user_agent=user_agent(config)) as fetcher:
            for feed in feeds:
                try:
                    # A dry run always reads the whole feed: no validators, nothing recorded.
                    result = await fetcher.fetch(feed, Validators(None, None))
                    observations = await read_documents(feed, fetcher, result.body, result.url)
                except Exception as exc:  # one broken feed never stops a dry run of the others
                    logs.get_logger("alertd").warning("feed failed", feed=feed.id, error=str(exc))
                    continue
                matched = engine.match(observations)
                for finding in matched.findings:
                    severity, rule = classify(finding, feed)
                    _emit(
                        {
                            "establishment": finding.establishment,
                            "indicator": finding.indicator.value,
                            "type": finding.indicator.type.value,
                            "reason": finding.reason,
                            "asset": finding.asset,
                            "severity": severity.label,
                            "rule": rule,
                            "feed": finding.feed,
                            "entry": finding.entry,
                            "title": finding.title,
                        }
                    )
                for s in matched.suppressed:
                    _emit(
                        {
                            "indicator": s.indicator.value,
                            "type": s.indicator.type.value,
                            "feed": s.feed,
                            "entry": s.entry,
                            "suppressed": s.list,
                        }
                    )
    finally:
        store.close()
    return EXIT_OK


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def cmd_outbox(config: Config, state: str | None, retry_id: int | None) -> int:
    store = Store.in_state_dir(config.settings.state_dir)
    try:
        if retry_id is not None:
            if not store.requeue(retry_id, utcnow()):
                print(f"alertd: no failed delivery with id {retry_id}", file=sys.stderr)
                return EXIT_INVALID
            print(f"delivery {retry_id} re-queued")
            return EXIT_OK
        for d in store.deliveries(state):
            sent = d.sent_at.isoformat(timespec="seconds") if d.sent_at else "-"
            error = f"  error: {d.last_error}" if d.last_error else ""
            print(
                f"{d.id}\t{d.state}\t{d.establishment}\tattempts={d.attempts}\tsent={sent}\t"
                f"{','.join(d.recipients)}\t{d.message_id}\t{d.subject}{error}"
            )
    finally:
        store.close()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
