"""The ``alertd`` command (contract §5). Output for people goes to stdout; logs go to stderr as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from alertd import __version__
from alertd.config.common import parse_duration
from alertd.config.files import Config, config_path, load_config, load_recorded
from alertd.config.finess import FinessError
from alertd.config.finess_import import import_finess, summary
from alertd.config.registry import RegistryCache
from alertd.config.sources import Recording
from alertd.config.yamlwords import near_miss
from alertd.domain.acknowledgement import Decision
from alertd.domain.codes import Evidence
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import AlertdError, ConfigError, StateRefused
from alertd.domain.feeds import FeedFormat, Validators
from alertd.domain.grammar import CVE_ID
from alertd.domain.knowledge import Statement
from alertd.domain.values import Finding, IndicatorType
from alertd.intake.fetch import Fetcher
from alertd.intake.reach import public_text
from alertd.policy.decide import TLP_RED, classify, withheld
from alertd.policy.escalation import escalation_due
from alertd.render.catalog import rule_text
from alertd.service import logs
from alertd.service.clock import utcnow
from alertd.service.daemon import CycleReport, Daemon, run_cycle, run_digests, user_agent, workers_busy
from alertd.service.engine import Engine
from alertd.service.explain import explanation, name_explanation
from alertd.service.feedback import cmd_decide, cmd_proposed
from alertd.service.poll import cut_text, read_documents
from alertd.service.recovery import cmd_state_backup, cmd_state_restore, left_to_owner, state_problem
from alertd.service.report_command import add_parser as add_report_parser
from alertd.service.report_command import cmd_report
from alertd.service.setup import make_ack_links, make_index, make_signer
from alertd.service.signals import EarlySignals
from alertd.service.vitals import store_reason
from alertd.service.whatif_cmd import EXIT_MISTAKES, cmd_what_if, load_recorded_running, show, what_if
from alertd.store import STORE_FAILURES
from alertd.store.acks import responses_to
from alertd.store.codecs import encode_time
from alertd.store.escalations import escalations_of
from alertd.store.records import HistoryEntry
from alertd.store.sqlite import Store

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
FULL_BELOW_BYTES = 1 << 20  # less free space than a poll's write needs: the likely cause of a store failure


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
    run.add_argument(
        "--print-links",
        action="store_true",
        help="with --once: print each email's live acknowledgement link (keep that output like the links' key)",
    )
    run.add_argument(
        "--new-state",
        action="store_true",
        help="start on the store as it is (a new one if none) although state_dir had another: see Recovering state",
    )
    check = sub.add_parser("check", help="validate every config file; exit 1 with file:line:col lines")
    check.add_argument(
        "--against-running",
        action="store_true",
        help="then a line per establishment the files on disk would change against the running daemon's; "
        "exit 4 when a likely mistake is warned of",
    )
    poll = sub.add_parser("poll", help="fetch and match, send nothing; one JSON object per finding")
    poll.add_argument("--feed", action="append", help="only this feed (may be repeated)")
    poll.add_argument("--dry-run", action="store_true", required=True, help="required: poll never sends")
    preview = sub.add_parser("preview", help="the email an establishment's pending alerts would produce")
    preview.add_argument("--establishment", required=True, metavar="ID")
    preview.add_argument("--format", choices=("text", "html", "eml"), default="text")
    history = sub.add_parser("history", help="who was warned of what, when, by which message")
    history.add_argument("--establishment", metavar="ID")
    history.add_argument("--json", action="store_true", help="one JSON object per line")
    history.add_argument("--limit", type=int, default=None, metavar="N", help="only the N most recent")
    digest = sub.add_parser("digest", help="send the due digests now, out of schedule")
    digest.add_argument("--now", action="store_true", required=True, help="required: send now")
    digest.add_argument("--subscription", action="append", metavar="NAME", help="only this digest (repeatable)")
    explain = sub.add_parser(
        "explain", help="why an establishment is (or is not) warned of a CVE, or named by a feed's entry"
    )
    explain.add_argument("--establishment", required=True, metavar="ID")
    about = explain.add_mutually_exclusive_group(required=True)
    about.add_argument("--cve", metavar="CVE")
    about.add_argument("--entry", metavar="FEED:ENTRY", help="a stored entry: its name matches and why")
    outbox = sub.add_parser("outbox", help="list deliveries, or re-queue a failed one")
    outbox.add_argument("--state", choices=[state.value for state in DeliveryState])
    outbox_sub = outbox.add_subparsers(dest="outbox_command", parser_class=_Parser)
    retry = outbox_sub.add_parser("retry", help="re-queue a failed delivery")
    retry.add_argument("id", type=int)
    _state_parser(sub)
    _inhibitions_parser(sub)
    add_report_parser(sub)
    what = sub.add_parser(
        "what-if",
        help="who would get what under an edited configuration; sends and writes nothing",
        description="Who would get what under an edited configuration, and what the reload sends now. Exit 0: "
        "no likely mistake (differences or not); 4: a likely mistake warned of (a reload script stops on it); "
        "1: an invalid configuration; 2: a usage error; 3: a store that cannot be read.",
    )
    against = what.add_mutually_exclusive_group(required=True)
    against.add_argument("--config", dest="edited", metavar="NEW_ALERTD_YAML", help="the edited alertd.yaml")
    against.add_argument(
        "--against-running", action="store_true", help="the files on disk against the running daemon's snapshot"
    )
    what.add_argument(
        "--since", type=parse_duration, default=None, help="only the entries first seen since (all those listed now)"
    )
    what.add_argument("--establishment", metavar="ID", help="only this establishment's differences")
    what.add_argument("--format", choices=("text", "summary", "json"), default="text", help="summary: a line each")
    registry = sub.add_parser("registry", help="build the registry from a national one")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, parser_class=_Parser)
    imported = registry_sub.add_parser("import", help="import FINESS into a registry folder, one file a department")
    imported.add_argument("source", choices=("finess",), help="the registry read: finess")
    imported.add_argument("files", nargs="+", metavar="FILE", help="cs1100507 CSV, FHIR ndjson(.gz), tar.gz")
    imported.add_argument("--into", required=True, metavar="DIR", help="the registry folder written")
    imported.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    imported.add_argument("--partial", action="store_true", help="the files are part of the extract: close nothing")
    imported.add_argument("--date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="closing date (today)")
    imported.add_argument(
        "--allow-closing", action="store_true", help="close more than 5 %% of the folder's FINESS items if need be"
    )
    return p


def _state_parser(sub: Any) -> None:
    """``alertd state backup`` and ``alertd state restore`` (README, "Recovering state")."""
    state = sub.add_parser("state", help="back up or restore the state store")
    state_sub = state.add_subparsers(dest="state_command", required=True, parser_class=_Parser)
    backup = state_sub.add_parser("backup", help="an online backup of the store now (the daemon may run)")
    backup.add_argument("--to", metavar="FILE", help="this file (default: a new file in the backup folder)")
    restore = state_sub.add_parser("restore", help="put a backup back (alertd stopped); the replaced file is kept")
    restore.add_argument("file", nargs="?", metavar="FILE", help="the backup (default: the newest good one)")


def _inhibitions_parser(sub: Any) -> None:
    """``alertd inhibitions proposed|accept|reject`` (README, "Acknowledgements")."""
    inh = sub.add_parser("inhibitions", help='the inhibitions establishments\' "not us" responses proposed')
    inh_sub = inh.add_subparsers(dest="inhibitions_command", required=True, parser_class=_Parser)
    inh_sub.add_parser("proposed", help="list the proposals not yet accepted or rejected")
    accept = inh_sub.add_parser("accept", help="write a proposal into inhibitions.yaml")
    accept.add_argument("id", type=int)
    accept.add_argument("--expires", type=date.fromisoformat, metavar="YYYY-MM-DD", help="default: web.proposal_expiry")
    accept.add_argument("--reason", metavar="TEXT", help="default: the establishment's comment")
    reject = inh_sub.add_parser("reject", help="set a proposal aside; nothing is written")
    reject.add_argument("id", type=int)


def _run_daemon(daemon: Daemon) -> int:
    """Run the daemon until it is stopped; a worker thread still reading a feed then is not waited for."""
    if daemon.early is not None and daemon.early.stop is not None:  # stopped while the state was opened
        daemon.store.close()
        return _stopped_before_start(daemon.early)
    code = asyncio.run(daemon.run())
    if workers_busy():
        # Joining it could take minutes (a hostile feed being parsed) and systemd would kill the process at its
        # stop timeout: the state is closed and every transaction committed or rolled back, so exit now.
        logs.get_logger("alertd").warning("a worker thread is still reading; exiting without waiting for it")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None, *, early: EarlySignals | None = None) -> int:
    """``alertd``: the exit code of the command. ``early`` holds the signals caught since the process started
    (see :mod:`~alertd.service.launch`): the daemon acts on them, every other command lets them act as usual."""
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    if early is not None and (args.command != "run" or args.once):
        early.release()  # only the daemon needs them held: any other command takes the signals as usual
        early = None
    if early is not None and early.stop is not None:
        return _stopped_before_start(early)
    loading = time.monotonic()  # a SIGHUP from now on may concern edits the files read below do not hold
    if args.command == "registry":  # needs no configuration: it writes the registry's files
        try:
            return cmd_registry_import(
                args.files, args.into, args.dry_run, args.partial, args.date, allow_closing=args.allow_closing
            )
        except AlertdError as exc:  # it could not write: exit 3, as any command that failed
            print(f"alertd: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except Exception:  # a bug: logged with its traceback, never exit 1 (an invalid configuration)
            logs.get_logger("alertd").exception("alertd failed")
            return EXIT_FAILED
    path = config_path(args.config, os.environ)
    if args.command == "check":
        return cmd_check(path, against_running=args.against_running)
    # The files' establishments kept in state_dir for the next command; by the daemon once it serves.
    # (what-if keeps nothing: it writes nowhere, as the daemon's neighbour)
    cache = RegistryCache(persist=args.command != "what-if", defer=args.command == "run" and not args.once)
    gc.disable()  # the registry lives as long as the process: frozen below, never walked (see Engine)
    recorded: Recording | None = None
    try:
        if args.command == "run" and not args.once:  # the daemon records what it loaded (check --against-running)
            config, recorded = load_recorded(path, cache)
        else:
            config = load_config(path, cache, warnings=False)  # only `check` shows the registry's warnings
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    finally:
        gc.freeze()
        gc.enable()
    if early is not None and early.stop is not None:  # stopped while the configuration was read
        return _stopped_before_start(early)
    try:
        with left_to_owner(config.settings, daemon=args.command == "run" and not args.once):
            return _command(args, path, config, cache, early, loading, recorded)
    except StateRefused as exc:  # the operator must act on the state (README, "Recovering state"): as a config error
        print(f"alertd: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except AlertdError as exc:
        print(f"alertd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except STORE_FAILURES as exc:  # a full disk, say: what failed is the state, not alertd (no traceback)
        store = config.settings.state_dir / "alertd.sqlite3"
        print(
            f"alertd: the state store cannot be used: {store_reason(exc)} ({store}){_no_space(store)}", file=sys.stderr
        )
        return EXIT_FAILED
    except Exception:  # a bug: logged with its traceback, and never mistaken for an invalid configuration (1)
        logs.get_logger("alertd").exception("alertd failed")
        return EXIT_FAILED


def _command(
    args: argparse.Namespace,
    path: Path,
    config: Config,
    cache: RegistryCache,
    early: EarlySignals | None,
    loading: float,
    recorded: Recording | None = None,
) -> int:
    """Run the command the arguments name, on a loaded configuration (errors are :func:`main`'s to report)."""
    if args.command == "run" and not args.once:
        daemon_ = Daemon(path, config, cache, new_state=args.new_state)
        daemon_.early, daemon_.loaded_at, daemon_.recorded = early, loading, recorded
        return _run_daemon(daemon_)
    if args.command == "run":
        return asyncio.run(cmd_run_once(config, new_state=args.new_state, print_links=args.print_links))
    if args.command == "state":
        if args.state_command == "backup":
            return cmd_state_backup(config.settings, args.to)
        return cmd_state_restore(config.settings, args.file)
    if args.command == "poll":
        return asyncio.run(cmd_poll(config, args.feed))
    if args.command == "inhibitions":
        if args.inhibitions_command == "proposed":
            return cmd_proposed(config)
        decision = Decision.ACCEPTED if args.inhibitions_command == "accept" else Decision.REJECTED
        return cmd_decide(config, args.id, decision, getattr(args, "expires", None), getattr(args, "reason", None))
    if args.command == "outbox":
        state = DeliveryState(args.state) if args.state else None
        return cmd_outbox(config, state, getattr(args, "id", None))
    if args.command == "preview":
        return cmd_preview(config, args.establishment, args.format)
    if args.command == "history":
        return cmd_history(config, args.establishment, args.json, args.limit)
    if args.command == "digest":
        return asyncio.run(cmd_digest(config, args.subscription))
    if args.command == "report":
        return cmd_report(config, args)
    if args.command == "what-if":
        return cmd_what_if(config, args.edited, args.since, args.establishment, args.format)
    if args.command == "explain":
        if args.entry is not None:
            return cmd_explain_entry(config, args.establishment, args.entry)
        return cmd_explain(config, args.establishment, args.cve)
    raise AssertionError(args.command)  # pragma: no cover - argparse only lets known commands through


def _no_space(store: Path) -> str:
    """``; its file system is full`` when it is (SQLite may say only "disk I/O error" of a write it could not make)."""
    try:
        free = shutil.disk_usage(store.parent).free
    except OSError:
        return ""
    return f"; its file system is full ({free} bytes free)" if free < FULL_BELOW_BYTES else ""


def _stopped_before_start(early: EarlySignals) -> int:
    """SIGTERM or SIGINT before the daemon ran: nothing was started, so nothing is left half-done; exit 0."""
    assert early.stop is not None
    early.ignore()
    logs.get_logger("alertd").info("alertd stopped before it started", signal=early.stop.name)
    return EXIT_OK


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)


def cmd_check(path: Path, *, against_running: bool = False) -> int:
    try:
        config = load_config(path, RegistryCache(persist=True, make_state_dir=False))
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    for warning in config.warnings:
        print(warning, file=sys.stderr)
    try:
        make_signer(config)  # the signing key must be usable before the daemon relies on it
    except AlertdError as exc:
        print(f"{config.settings.path}: signing: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        make_ack_links(config)  # the links' key too: every email would carry a link made with it
    except AlertdError as exc:
        print(f"{config.settings.path}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    with left_to_owner(config.settings):  # the registry's cache it wrote, SQLite's read-only sidecars
        problem = state_problem(config.settings)  # read-only: check never creates the state
    if problem is not None:
        print(f"alertd: {problem}", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"{path}: valid — {len(config.feeds)} feeds, {len(config.registry.establishments)} establishments "
        f"in {len(config.registry.files)} files, {len(config.subscriptions)} subscriptions"
    )
    if against_running:  # what a reload would change, read before ``systemctl reload alertd``
        running = load_recorded_running(config)
        if running is None:
            return EXIT_INVALID
        print("against the running configuration, over the entries the feeds list now:")
        if show(what_if(running, config, None), None, "summary"):
            return EXIT_MISTAKES  # a reload script stops on it
    return EXIT_OK


def cmd_registry_import(
    files: list[str], into: str, dry_run: bool, partial: bool, when: date | None, *, allow_closing: bool = False
) -> int:
    """``alertd registry import finess``: a summary on stdout, exit 2 with the problem for input it cannot use."""
    started = time.monotonic()
    try:
        report = import_finess(
            [Path(f) for f in files],
            Path(into),
            today=when or date.today(),
            dry_run=dry_run,
            partial=partial,
            allow_closing=allow_closing,
        )
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_USAGE
    except FinessError as exc:
        print(f"alertd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for line in summary(report, Path(into), dry_run=dry_run, seconds=time.monotonic() - started):
        print(line)
    return EXIT_OK


async def cmd_run_once(config: Config, *, new_state: bool = False, print_links: bool = False) -> int:
    report = await run_cycle(config, new_state=new_state)
    print(format_cycle(config, report, links=print_links))
    return EXIT_FAILED if report.failed else EXIT_OK


def format_cycle(config: Config, report: CycleReport, *, links: bool = False) -> str:
    """The human summary of one cycle: feeds polled, findings, emails written and where; with ``links``, each
    email's live acknowledgement link (left out otherwise: cron mails this output, the journal keeps it)."""
    ok = sum(p.ok for p in report.polls)
    lines = [f"polled {len(report.polls)} feeds: {ok} ok, {len(report.polls) - ok} failed"]
    width = max((len(p.feed) for p in report.polls), default=4)
    for p in report.polls:
        if not p.ok:
            lines.append(f"  {p.feed:<{width}}  FAILED: {p.error}")
        if p.refused:  # documents an index listed off its origin (contract §2, "Reach"): named, never fetched
            shown = ", ".join(p.refused[:5]) + (f" and {len(p.refused) - 5} more" if len(p.refused) > 5 else "")
            lines.append(f"  {'':<{width}}  {len(p.refused)} documents refused (off the index's origin): {shown}")
        elif p.not_modified:
            lines.append(f"  {p.feed:<{width}}  not modified since last poll")
        else:
            lines.append(
                f"  {p.feed:<{width}}  {p.observations} entries ({p.new} new), {p.findings} findings, "
                f"{p.suppressed} suppressed, {p.alerts} alerts"
                + (f" ({p.inventory} for the inventory)" if p.inventory else "")
                + (f" ({p.inhibited} held back by inhibitions)" if p.inhibited else "")
                + _evidence_counts(p.evidence)
                + (f"; {_red(p.red)}" if p.red else "")
                + (f"; {cut_text(p.cut)}: nothing delisted" if p.cut else "")
            )
    findings = sum(p.findings for p in report.polls)
    alerts = sum(p.alerts for p in report.polls)
    inventory = sum(p.inventory for p in report.polls)
    backlog = f" ({inventory} backlog, for the inventory)" if inventory else ""
    lines.append(f"findings: {findings}; new alerts queued: {alerts}{backlog}")
    f = report.flush
    inventories = f" ({report.inventories} inventory)" if report.inventories else ""
    lines.append(
        f"emails: {report.emails} written to the outbox{inventories}; delivered {f.sent} via {report.transport}"
    )
    if f.left_to_other:
        lines.append("  the outbox is left to the alertd daemon running on this state directory: it sends them")
    if f.retrying or f.failed:
        lines.append(f"  {f.retrying} deferred for retry, {f.failed} failed: {'; '.join(dict.fromkeys(f.errors))}")
    if report.links and links:  # with ``web``: each email's personal link to the acknowledgement page
        lines.append("acknowledgement links:")
        lines.extend(f"  {reference}  {est}  {url}" for reference, est, url in report.links)
    elif report.links:
        lines.append(f"acknowledgement links: {len(report.links)} in the emails (--print-links shows them)")
    if report.backup is not None:  # a backup was due: run from cron, --once takes them
        lines.append(f"backed up the state to {report.backup}")
    lines.append(f"state: {config.settings.state_dir / 'alertd.sqlite3'}")
    return "\n".join(lines)


async def cmd_poll(config: Config, only: list[str] | None) -> int:
    # The feeds that publish versions (NVD, CSAF, EPSS) first: what they say judges the KEV entries and the
    # advisories read after them, as the daemon's later re-judging would.
    feeds = sorted(
        (f for f in config.feeds if not only or f.id in only), key=lambda f: f.format not in _VERSION_SOURCES
    )
    unknown = set(only or ()) - {f.id for f in config.feeds}
    if unknown:
        ids = [f.id for f in config.feeds]
        named = ", ".join(name + near_miss(name, ids) for name in sorted(unknown))
        print(f"alertd: unknown feed(s): {named}", file=sys.stderr)
        return EXIT_USAGE
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    engine = Engine(config, store)
    said: dict[str, list[Statement]] = {}
    failed = 0
    # A feed's lines are written together once it is matched, not one write and flush per line: a big list
    # prints tens of thousands of them.
    lines: list[str] = []

    def emit(obj: dict[str, Any]) -> None:
        lines.append(json.dumps(obj, ensure_ascii=False))

    try:
        async with Fetcher(user_agent=user_agent(config)) as fetcher:
            for feed in feeds:
                try:
                    # A dry run always reads the whole feed: no validators, nothing recorded.
                    result = await fetcher.fetch(feed, Validators(None, None))
                    read = await read_documents(feed, fetcher, result, sift=engine.current().index)
                    observations = read.observations
                except Exception as exc:  # one broken feed never stops a dry run of the others; it fails the run
                    error = public_text(str(exc))
                    logs.get_logger("alertd").warning("feed failed", feed=feed.id, error=error)
                    print(f"alertd: feed {feed.id} failed: {error}", file=sys.stderr, flush=True)
                    failed += 1
                    continue
                matched = engine.match(observations, said)
                # Nothing is recorded in a dry run: what this feed says of CVEs is kept here for the next feeds.
                for obs in observations:
                    cves = [ind.value for ind in obs.indicators if ind.type is IndicatorType.CVE]
                    if not cves:
                        continue  # (a blocklist's tens of thousands of addresses: no statement made for them)
                    statement = Statement.of(obs)
                    if statement.says_something:
                        for cve in cves:
                            said.setdefault(cve, []).append(statement)
                not_affected = matched.not_affected
                matched, inhibited = engine.inhibit(matched, utcnow())
                for finding in matched.findings:
                    if withheld(finding, feed):  # emailed to nobody: the operators' notice lists it
                        emit({**_identity(finding), "feed": feed.id, "entry": finding.entry, "suppressed": TLP_RED})
                        continue
                    severity, rule = classify(finding, feed)
                    emit(
                        {
                            **_identity(finding),
                            "asset": finding.asset,
                            "severity": severity.label,
                            "rule": rule_text("en", rule),  # the words a person reads, as before codes
                            "feed": finding.feed,
                            "entry": finding.entry,
                            "title": finding.title,
                            **_evidence(finding),
                        }
                    )
                for finding in not_affected:
                    emit(
                        {
                            **_identity(finding),
                            "asset": finding.asset,
                            "feed": finding.feed,
                            "entry": finding.entry,
                            "suppressed": f"not-affected: {_basis(finding)}",
                            **_evidence(finding),
                        }
                    )
                for finding, inh in inhibited:
                    emit(
                        {
                            **_identity(finding),
                            "feed": finding.feed,
                            "entry": finding.entry,
                            "suppressed": f"inhibition: {inh.reason}",
                            "inhibition": inh.where,
                            "expires": inh.expires.isoformat() if inh.expires else None,
                        }
                    )
                for s in matched.suppressed:
                    emit(
                        {
                            "indicator": s.indicator.value,
                            "type": s.indicator.type.value,
                            "feed": s.feed,
                            "entry": s.entry,
                            "suppressed": s.list,
                        }
                    )
                _write_lines(lines)
    finally:
        store.close()
    return EXIT_FAILED if failed else EXIT_OK  # as run --once: a feed that failed is exit 3


def _red(count: int) -> str:
    return f"{count} TLP:RED finding{'s' if count != 1 else ''} held for manual handling"


def _evidence_counts(evidence: dict[str, int]) -> str:
    """Software findings by evidence level, as the run's summary says them ("" when there are none)."""
    shown = [
        (Evidence.AFFECTED, "proved affected"),
        (Evidence.UNVERIFIED, "not checked"),
        (Evidence.NOT_AFFECTED, "proved not affected"),
    ]
    parts = [f"{evidence[level.value]} {words}" for level, words in shown if evidence.get(level.value)]
    return f"; versions: {', '.join(parts)}" if parts else ""


_VERSION_SOURCES = frozenset({FeedFormat.NVD_JSON, FeedFormat.CSAF, FeedFormat.EPSS_CSV})


def _identity(finding: Finding) -> dict[str, Any]:
    """What every line of the dry run says of a finding first: whom it concerns, by what and why."""
    return {
        "establishment": finding.establishment,
        "indicator": finding.indicator.value,
        "type": finding.indicator.type.value,
        "reason": finding.reason,
    }


def _evidence(finding: Finding) -> dict[str, Any]:
    """A software finding's version evidence, as the dry run prints it (nothing for other findings)."""
    version = finding.facts.version
    if version is None or version.basis is None:
        return {}
    return {
        "version": version.declared,
        "evidence": version.evidence.value,
        "basis": version.basis.value,
        "range": version.range,
        "range_source": version.source,
    }


def _basis(finding: Finding) -> str:
    version = finding.facts.version
    return version.basis.value if version is not None and version.basis is not None else "unknown"


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _write_lines(lines: list[str]) -> None:
    """Write ``lines`` to stdout in one go and flush, then empty the list."""
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        lines.clear()


def cmd_preview(config: Config, establishment: str, fmt: str) -> int:
    est = config.registry.establishments.get(establishment)
    if est is None:
        print(unknown_establishment(config, establishment), file=sys.stderr)
        return EXIT_USAGE
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        # The news pending; when there is none, the inventory pending (the two never share an email).
        items = store.queued_alerts(establishment=establishment).get(establishment, []) or store.queued_alerts(
            establishment=establishment, inventory=True
        ).get(establishment, [])
        if not items:
            print(f"{establishment} ({est.name}): no pending alert; nothing would be sent")
            return EXIT_OK
        email = Engine(config, store).compose(est, items, utcnow())
    finally:
        store.close()
    if email is None:
        print(f"{establishment} ({est.name}): {len(items)} pending alerts, but no contact would receive them")
        return EXIT_OK
    msg, _ = email
    if fmt == "eml":
        sys.stdout.write(msg.as_string())
        return EXIT_OK
    part = msg.get_body(("plain",) if fmt == "text" else ("html",))
    if fmt == "text":
        print("\n".join(f"{h}: {msg[h]}" for h in ("From", "To", "Subject") if msg[h]) + "\n")
    print(part.get_content() if part is not None else "")
    return EXIT_OK


def cmd_explain(config: Config, establishment: str, cve: str) -> int:
    est = config.registry.establishments.get(establishment)
    if est is None:
        print(unknown_establishment(config, establishment), file=sys.stderr)
        return EXIT_USAGE
    cve = cve.strip().upper()
    if not CVE_ID.match(cve):
        print(f"alertd: {cve!r} is not a CVE id (CVE-YYYY-NNNN)", file=sys.stderr)
        return EXIT_USAGE
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        knowledge = store.knowledge([cve])
    finally:
        store.close()
    index = make_index(config)
    judgements = index.explain(establishment, cve, knowledge)
    print("\n".join(explanation(est, cve, knowledge.get(cve, []), judgements)))
    return EXIT_OK


def cmd_explain_entry(config: Config, establishment: str, reference: str) -> int:
    """``alertd explain --entry FEED:ENTRY``: the establishment's name forms, and what the stored entry's text
    made of them."""
    est = config.registry.establishments.get(establishment)
    if est is None:
        print(unknown_establishment(config, establishment), file=sys.stderr)
        return EXIT_USAGE
    feed, colon, entry = reference.partition(":")
    if not colon or not feed or not entry:
        print(
            f"alertd: {reference!r} is not FEED:ENTRY (a feed id, a colon, the entry id)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        obs = store.observation(feed, entry)
    finally:
        store.close()
    if obs is None:
        print(f"alertd: feed {feed!r} has no stored entry {entry!r}", file=sys.stderr)
        return EXIT_USAGE
    index = make_index(config)
    country = obs.facts.country_code or ""
    mentions = index.names.find(obs.text, country) if obs.text else []
    forms = index.names.forms_of(establishment)
    unsafe = [u for u in index.unsafe_names if u.establishment == establishment]
    print("\n".join(name_explanation(est, obs, country, forms, unsafe, mentions)))
    return EXIT_OK


def cmd_history(config: Config, establishment: str | None, as_json: bool, limit: int | None) -> int:
    """``alertd history``: an id neither in the registry nor in the history is a usage error (exit 2); one gone
    from the registry still shows what it was told."""
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        entries = store.history(establishment, limit)
        rows = [history_record(entry) for entry in entries]
        # What each email's readers answered through its personal link (the acknowledgement page).
        answered = responses_to(store.db, (r["reference"] for r in rows if r["reference"]))
        escalated = escalations_of(store.db, (r["reference"] for r in rows if r["reference"]))
    finally:
        store.close()
    rules, tz = config.settings.escalation, config.settings.timezone
    for row, entry in zip(rows, entries, strict=True):
        row["responses"] = [
            {"at": encode_time(a.at), "response": str(a.response), "comment": a.comment, "source": a.source}
            for a in answered.get(row["reference"], [])
        ]
        # A warning sent and still unanswered, of a severity escalated: when it is due (the escalation settings).
        # Once escalated, when, and by which reminder.
        up = escalated.get(row["reference"]) if row["reference"] else None
        row["escalated_at"] = encode_time(up.at) if up is not None else None
        row["reminder"] = up.reminder if up is not None else None
        due = None
        if entry.state is DeliveryState.SENT and row["reference"] and not row["responses"] and up is None:
            # An inventory warns of nothing new: it is not escalated.
            due = None if row["inventory"] else escalation_due(entry.when, entry.alert.severity, rules, tz)
        row["escalation_due"] = encode_time(due) if due is not None else None
    if establishment is not None and not rows and establishment not in config.registry.establishments:
        print(unknown_establishment(config, establishment), file=sys.stderr)
        return EXIT_USAGE
    for row in rows:
        if as_json:
            _emit(row)
            continue
        told = " (follow-up)" if row["follow_up"] else " (inventory)" if row["inventory"] else ""
        said = "".join(f"; answered {a['response']} at {a['at'][:19]}" for a in row["responses"])
        if row["escalated_at"] is not None:
            said += f"; escalated at {row['escalated_at'][:19]} in {row['reminder']}"
        if row["escalation_due"] is not None:
            said += f"; no response, escalation due at {row['escalation_due'][:19]}"
        print(
            f"{row['when'][:19]}  {row['establishment']}  {row['severity']:<9} {row['indicator']} "
            f"({row['reason']}, {row['asset']}) from {row['feed']} — {row['state']} to {','.join(row['recipients'])} "
            f"in {row['reference'] or '-'} {row['message_id']}{told}{said}"
        )
    return EXIT_OK


def unknown_establishment(config: Config, establishment: str) -> str:
    """The message for an id the registry does not hold, with the nearest id if one is close."""
    hint = near_miss(establishment, config.registry.establishments)
    return f"alertd: no establishment has id {establishment!r}{hint}"


def history_record(entry: HistoryEntry) -> dict[str, Any]:
    """One history entry as ``history --json`` prints it (and the text lines read it)."""
    alert, finding = entry.alert, entry.alert.finding
    return {
        "when": encode_time(entry.when),
        "establishment": finding.establishment,
        "severity": alert.severity.label,
        "indicator": finding.indicator.value,
        "type": finding.indicator.type.value,
        "reason": finding.reason,
        "asset": finding.asset,
        "feed": finding.feed,
        "subscription": alert.subscription,
        "delivery": entry.delivery,
        "state": entry.state,
        "message_id": entry.message_id,
        "recipients": list(entry.recipients),
        "follow_up": alert.follow_up,
        "inventory": alert.inventory,  # backlog told in the establishment's inventory email, not as news
        "reference": entry.reference,  # the email's reference; None for one queued before references existed
    }


async def cmd_digest(config: Config, only: list[str] | None) -> int:
    """``alertd digest --now [--subscription NAME]…``: a name that is no digest subscription is a usage error
    (exit 2) naming it, before anything is sent."""
    names = {s.name: s for s in config.subscriptions}
    for name in dict.fromkeys(only or ()):
        sub = names.get(name)
        if sub is None:
            digests_known = sorted(s.name for s in config.subscriptions if s.digest)
            hint = near_miss(name, names)
            known = f"; digest subscriptions: {', '.join(digests_known)}" if digests_known else ""
            print(f"alertd: no subscription named {name!r}{hint}{known}", file=sys.stderr)
            return EXIT_USAGE
        if not sub.digest:
            print(f"alertd: subscription {name!r} is delivered immediately, not in a digest", file=sys.stderr)
            return EXIT_USAGE
    digests = [s.name for s in config.subscriptions if s.digest and (not only or s.name in only)]
    if not digests:  # none asked for by name, and the configuration has none
        print("alertd: no digest subscription in the configuration; nothing to send", file=sys.stderr)
        return EXIT_OK
    report = await run_digests(config, digests)
    print(f"digests {', '.join(digests) or '(none)'}: {report.emails} emails; delivered {report.flush.sent}")
    if report.flush.failed or report.flush.retrying:
        print(f"  {report.flush.retrying} deferred for retry, {report.flush.failed} failed")
    return EXIT_FAILED if report.flush.failed or report.flush.retrying else EXIT_OK


def cmd_outbox(config: Config, state: DeliveryState | None, retry_id: int | None) -> int:
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        if retry_id is not None:
            if not store.requeue(retry_id, utcnow()):
                print(f"alertd: no failed delivery with id {retry_id}", file=sys.stderr)
                return EXIT_USAGE
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
