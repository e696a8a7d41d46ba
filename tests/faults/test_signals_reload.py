"""Signals from the first instruction, and reloads that say what they refuse or drop — the real daemon.

A SIGHUP or SIGTERM in the daemon's first second used to meet Python's default action (the handlers came with the
event loop, after a second of imports and the configuration's loading): SIGHUP killed it. A refused reload named a
knock-on error in STATUS=; a reload that dropped feeds (or a feeds.yaml cut between two entries, still valid YAML)
passed unseen.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from configs import copy_example
from running import RunningDaemon, wait_for

from alertd.config.files import load_config
from alertd.service.daemon import Daemon
from alertd.service.signals import EarlySignals


def catches(pid: int, sig: signal.Signals) -> bool:
    """Whether the process has a handler for ``sig`` (the kernel's SigCgt mask): then the signal is its own."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & (1 << (sig - 1)))


def storm(daemon: RunningDaemon, sig: signal.Signals, *, seconds: float, until_ready: bool = False) -> int:
    """Send ``sig`` every 20 ms from the moment the process catches it, for ``seconds`` (and, with
    ``until_ready``, until READY=1), or until it exits; how many were sent. The few milliseconds before the
    process catches it are the interpreter starting, before any line of alertd runs: nothing can catch it there."""
    started = time.monotonic()
    # SIGTERM as the mark for all three: Python itself catches SIGINT from its start (KeyboardInterrupt)
    wait_for(lambda: catches(daemon.pid, signal.SIGTERM), 10, "the process catching signals", step=0.002)
    caught = time.monotonic() - started
    assert caught < 1.0, f"signals caught only after {caught:.2f} s"  # before the imports (about a second)
    done = threading.Event()
    sent = 0

    def send() -> None:
        nonlocal sent
        while not done.is_set() and daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(sig)
            sent += 1
            done.wait(0.02)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(seconds)
        if until_ready:
            daemon.wait_ready()
    finally:
        done.set()
        sender.join()
    return sent


def test_a_sighup_storm_from_the_first_instant_neither_kills_nor_loses_the_reload(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        sent = storm(daemon, signal.SIGHUP, seconds=1.0, until_ready=True)
        assert sent >= 20
        daemon.wait_ready()
        # Some SIGHUPs came while the files were being read: they may concern edits made since, so one reload
        # follows once ready (however many came before it); those before the reading were ignored.
        deferred = daemon.wait_log("SIGHUP before ready: reloading once ready")
        assert deferred[0]["hangups"] >= 2
        daemon.wait_log("configuration reloaded")
        wait_for(lambda: daemon.statuses()[-1].startswith("watching 4 feeds"), 30, "STATUS after the reload")
        daemon.wait_notice("WATCHDOG=1", 10)
        assert daemon.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_in_the_first_second_exits_0_having_started_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        storm(daemon, sig, seconds=1.0)
        assert daemon.wait(30) == 0, daemon.tail()
        stopped = daemon.events("alertd stopped before it started")
        assert [e["signal"] for e in stopped] == [sig.name]
        assert not [n for n in daemon.receive() if "READY=1" in n]
        assert not daemon.events("alertd started")
        # Nothing half-written: the state was never opened
        assert not (tmp_path / "var" / "state" / "alertd.sqlite3").exists()


def test_reloads_name_the_cause_refuse_a_cut_file_and_say_what_they_drop(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    feeds = config.parent / "feeds.yaml"
    good = feeds.read_text()
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        assert daemon.statuses()[-1] == "watching 4 feeds for 4 establishments"

        def reload() -> str:
            seen = len(daemon.receive())
            daemon.signal(signal.SIGHUP)
            return daemon.wait_notice("READY=1", 60, after=seen)

        # A mis-indented feeds.yaml: STATUS and the first log line name its cause, no knock-on "unknown feed"
        feeds.write_text(good.replace("    format: cisa-kev\n", "     format: cisa-kev\n"))
        line = good.splitlines().index("    format: cisa-kev") + 1
        notice = reload()
        cause = f"{feeds.resolve()}:{line}:6: invalid YAML: this line is indented more than the line above it"
        assert f"STATUS=reload refused: {cause}" in notice
        refused = daemon.wait_log("reload refused")
        assert refused[0]["problem"].startswith(cause)
        assert not [e for e in refused if "unknown feed" in e["problem"]]

        # feeds.yaml cut between two entries, without its final line break: valid YAML, one feed fewer — refused
        kept = good[: good.index("  - id: certfr-alertes")].rstrip("\n")
        feeds.write_text(kept)
        notice = reload()
        assert (
            f"STATUS=reload refused: {feeds.resolve()} does not end with a line break and the reload would drop "
            "feeds 4 → 3 (dropped: certfr-alertes): the file looks cut while written"
        ) in notice
        assert "old config running" in notice

        # The same removal, meant (the file ends with a line break): applied, and said in STATUS and the log
        feeds.write_text(kept + "\n")
        notice = reload()
        assert "STATUS=watching 3 feeds for 4 establishments; reload: feeds 4 → 3 (dropped: certfr-alertes)" in notice
        said = daemon.wait_log("reload drops entries")
        assert said[-1]["feeds"] == "feeds 4 → 3 (dropped: certfr-alertes)"
        assert daemon.events("configuration reloaded")[-1]["feeds"] == 3

        # The next reload that drops nothing clears the note
        feeds.write_text(good)
        assert "STATUS=watching 4 feeds for 4 establishments\n" in reload() + "\n"
        assert daemon.stop() == 0


def test_a_sighup_before_the_files_were_read_is_ignored_one_after_is_a_reload(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    daemon = Daemon(config, load_config(config))
    try:
        early = EarlySignals()  # not installed: the test sets what it noted
        early.hangups, early.last_hangup = 3, time.monotonic()
        daemon.early, daemon.loaded_at = early, time.monotonic()
        daemon.take_over_early_signals()
        assert not daemon.reload_when_ready and not daemon.stop.is_set()  # the files read are the newest
        early.last_hangup = time.monotonic()
        daemon.take_over_early_signals()
        assert daemon.reload_when_ready and not daemon.stop.is_set()
        early.stop = signal.SIGTERM
        daemon.take_over_early_signals()
        assert daemon.stop.is_set()
    finally:
        daemon.store.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signals_while_the_daemon_stops_change_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    # A stop, then a signal every few milliseconds until the process is gone: the loop, then the interpreter,
    # close meanwhile, and Python would give the signals their default action back (death by SIGTERM or SIGHUP).
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("alertd started")
        daemon.signal(signal.SIGTERM)
        sent = 0
        while daemon.proc is not None and daemon.proc.poll() is None:
            daemon.signal(sig)
            sent += 1
            time.sleep(0.002)
        assert daemon.wait() == 0, daemon.tail()
        assert sent > 0 and daemon.events("alertd stopped")


def test_the_registry_files_parsed_are_kept_once_the_daemon_serves(tmp_path: Path) -> None:
    """The parsed registry files go to state_dir/cache/ after the first poll (not before it), and a reload's after
    it: the next start reads them instead of parsing."""
    config = copy_example(tmp_path / "config")
    cache = tmp_path / "var" / "state" / "cache"
    registry = config.parent / "establishments" / "example.yaml"

    def headers() -> list[bytes]:
        return [path.read_bytes().split(b"\n", 1)[0] for path in sorted(cache.glob("registry-*"))]

    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("feed polled")
        wait_for(lambda: len(headers()) == 1, 30, "the registry file kept")
        first = headers()
        registry.write_text(registry.read_text() + "\n# edited\n")
        seen = len(daemon.receive())
        daemon.signal(signal.SIGHUP)
        daemon.wait_notice("READY=1", 60, after=seen)
        wait_for(lambda: len(headers()) == 1 and headers() != first, 30, "the edited file kept in its place")
        assert daemon.stop() == 0
