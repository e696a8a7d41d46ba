"""The fault harness itself: the example daemon starts, reports READY and a watchdog, and stops with 0."""

from __future__ import annotations

from pathlib import Path

from configs import copy_example
from running import RunningDaemon


def test_example_daemon_ready_watchdog_and_clean_exit(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        assert daemon.wait_ready().splitlines()[1].startswith("STATUS=watching 4 feeds")
        daemon.wait_notice("WATCHDOG=1", 10)
        assert daemon.stop() == 0
        assert daemon.events("alertd stopped")
