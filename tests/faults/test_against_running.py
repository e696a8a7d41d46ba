"""``alertd check --against-running`` beside the real daemon: the example configuration running, one file edited on
disk, the summary naming exactly that edit's difference; none once the daemon reloaded; the running configuration's
snapshot kept across a restart, its bytes written only when new, and never a secret in it."""

from __future__ import annotations

import signal
from pathlib import Path

from configs import alertd, copy_example
from running import RunningDaemon

from alertd.store import loaded

# The example's rehabilitation centre, its network moved off the Feodo Tracker address it is warned of.
REGISTRY = "establishments/example.yaml"
MOVED = ("23.226.138.128/26", "23.226.138.192/26")
MOVED_SUMMARY = [
    "against the running configuration, over the entries the feeds list now:",
    "000000033: 1 warning removed; at the reload: 1 nothing more sent",
    "! 000000033 would receive nothing, where it is warned now",
]
NONE = ["against the running configuration, over the entries the feeds list now:", "no difference"]


def against_running(config: Path, code: int = 0) -> list[str]:
    """Check's lines after the first; ``code``: its exit code (4 when a likely mistake is warned of)."""
    done = alertd(config, "check", "--against-running", log_level="warning")
    assert done.returncode == code, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{config}: valid")
    return lines[1:]


def edit(config: Path) -> None:
    registry = config.parent / REGISTRY
    registry.write_text(registry.read_text().replace(*MOVED))


def stored(config: Path) -> set[str]:
    return {p.name for p in (config.parent.parent / "var" / "state" / loaded.FOLDER).iterdir()}


def test_an_edit_on_disk_is_shown_against_the_running_daemon_until_it_reloads(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("feed polled", count=4)
        assert daemon.wait_log("running configuration kept")[0]["written"] == 5
        assert against_running(config) == NONE
        before = stored(config)
        edit(config)
        assert against_running(config, 4) == MOVED_SUMMARY  # a likely mistake: a reload script stops
        done = alertd(config, "what-if", "--against-running", "--format", "summary", log_level="warning")
        assert (done.returncode, done.stdout.splitlines()) == (4, MOVED_SUMMARY[1:])
        seen = len(daemon.receive())
        daemon.signal(signal.SIGHUP)
        daemon.wait_notice("READY=1", 60, after=seen)
        kept = daemon.wait_log("running configuration kept", count=2)[1]
        assert (kept["files"], kept["written"]) == (5, 1)  # the edited file's bytes only
        assert against_running(config) == NONE
        after = stored(config)
        assert len(after) == 5 and len(before - after) == 1  # the registry's old bytes removed
        assert daemon.stop() == 0


def test_the_snapshot_outlives_the_daemon_and_a_restart_writes_only_what_changed(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("feed polled", count=4)
        daemon.wait_log("running configuration kept")
        assert daemon.stop() == 0
    edit(config)
    assert against_running(config, 4) == MOVED_SUMMARY  # what the stopped daemon ran, against the disk
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        assert daemon.wait_log("running configuration kept")[0]["written"] == 1
        assert against_running(config) == NONE
        assert daemon.stop() == 0


def test_the_acknowledgement_key_is_never_in_the_snapshot(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    key = config.parent / "ack-link-key.demo"
    assert key.read_bytes() and str(key.name) in config.read_text()
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("running configuration kept")
        assert daemon.stop() == 0
    state = config.parent.parent / "var" / "state"
    assert str(key) not in (state / loaded.MANIFEST).read_text()
    assert key.read_bytes() not in {p.read_bytes() for p in (state / loaded.FOLDER).iterdir()}


def test_without_a_daemon_ever_run_check_against_running_says_so(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    done = alertd(config, "check", "--against-running", log_level="warning")
    assert done.returncode == 1
    assert "no running configuration is recorded in" in done.stderr
    assert "'alertd what-if --config EDITED' compares an edited copy with the files on disk" in done.stderr
    done = alertd(config, "what-if", "--against-running", log_level="warning")
    assert done.returncode == 1 and "no running configuration is recorded in" in done.stderr
