"""Lost, empty and damaged state, end to end (README "Recovering state", contract §1): the real ``alertd`` command
and daemon, feeds from a loopback HTTP server, a real SMTP relay counting what it accepts.

Detect (``check``, the daemon's start) → restore (``state restore``) → start: nothing told twice, nothing lost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from configs import ALERTD, alertd, copy_example, write_config
from http_server import FeedServer
from paths import DATA
from running import RunningDaemon
from smtp_server import SmtpServerFactory, SmtpTestServer

FEODO = (DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv").read_text()
# Entries added to the feed later: one in the CHU's network (84.247.157.0/24), each a warning of its own.
LATER = '"2024-04-04 08:00:00","84.247.157.20","443","online","2024-04-04","Pikabot"\n'
NEWER = '"2024-04-04 09:00:00","84.247.157.21","443","online","2024-04-04","Pikabot"\n'


def feodo(*added: str) -> str:
    """The Feodo list with entries added before its closing comment."""
    body, end = FEODO.rsplit("# END", 1)
    return body + "".join(added) + "# END" + end


class Setup:
    """A configuration with two feeds (a Feodo list the test edits, the KEV catalogue), relaying to ``smtp``."""

    def __init__(self, tmp: Path, feeds: FeedServer, smtp: SmtpTestServer) -> None:
        self.feeds, self.smtp = feeds, smtp
        self.version = 0
        self.serve(FEODO)
        self.config = write_config(tmp, self.feeds_yaml(), smtp)
        self.state = tmp / "state"
        self.db = self.state / "alertd.sqlite3"

    def feeds_yaml(self) -> str:
        return dedent(
            f"""\
            feeds:
              - id: feodo
                url: {self.feeds.url("/feodo.csv")}
                format: csv
                columns: {{ip: dst_ip, port: dst_port, first_seen: first_seen_utc, malware: malware}}
                interval: 30m
              - id: kev
                url: {self.feeds.url("/data/kev/known_exploited_vulnerabilities.json")}
                format: cisa-kev
                interval: 1h
            """
        )

    def serve(self, text: str) -> None:
        self.version += 1
        self.feeds.route("/feodo.csv", text.encode(), etag=f'"v{self.version}"')

    def once(self, *args: str) -> subprocess.CompletedProcess[str]:
        return alertd(self.config, "run", "--once", *args)

    @property
    def sent(self) -> int:
        return len(self.smtp.messages)

    def remove_store(self) -> None:
        for file in self.state.glob("alertd.sqlite3*"):
            if file.name != "alertd.sqlite3.send-lock":
                file.unlink()


@pytest.fixture
def setup(tmp_path: Path, smtp_server: SmtpServerFactory) -> Iterator[Setup]:
    feeds = FeedServer()
    feeds.serve_dir("/data/", DATA)
    with feeds:
        yield Setup(tmp_path, feeds, smtp_server(tls="starttls"))


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """An exit 1 whose message says each of ``words``, without a traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # six cycles on the KEV catalogue: ~15 s
def test_a_deleted_store_is_refused_and_a_new_state_does_not_warn_again(setup: Setup) -> None:
    first = setup.once()
    assert first.returncode == 0, first.stderr
    assert setup.sent == 2  # the CHU and the clinic
    setup.remove_store()

    refused(setup.once(), f"{setup.db}: no file", "sent 2 emails", "alertd state restore", "alertd run --new-state")
    refused(alertd(setup.config, "check"), f"{setup.db}: no file")
    assert not setup.db.exists() and setup.sent == 2

    fresh = setup.once("--new-state")
    assert fresh.returncode == 0, fresh.stderr
    assert setup.sent == 2  # what the journal says was told is told, not news
    again = setup.once()  # the new store is state_dir's now: no flag needed
    assert again.returncode == 0, again.stderr
    assert setup.sent == 2
    setup.serve(feodo(LATER))
    assert setup.once().returncode == 0
    assert setup.sent == 3  # what is new is still warned


def test_an_empty_store_is_refused_by_the_daemon(setup: Setup) -> None:
    assert setup.once().returncode == 0
    setup.remove_store()
    setup.db.touch()
    with RunningDaemon(setup.config) as daemon:
        assert daemon.wait(60) == 1
        log = daemon.tail()
    assert f"{setup.db}: an empty file" in log and "alertd state restore" in log and "Traceback" not in log
    refused(setup.once(), "an empty file")
    assert setup.sent == 2


@pytest.mark.slow  # two daemon starts and five cycles on the KEV catalogue: ~30 s
def test_damage_is_detected_restored_and_nothing_is_sent_twice(setup: Setup) -> None:
    assert setup.once().returncode == 0
    backed = alertd(setup.config, "state", "backup")
    assert backed.returncode == 0 and "quick check: ok" in backed.stdout, backed.stderr
    setup.serve(feodo(LATER))
    assert setup.once().returncode == 0
    assert setup.sent == 3  # one email after the backup: the backup does not know it went

    size = setup.db.stat().st_size
    assert size > 4 * 65536
    with setup.db.open("r+b") as f:  # 64 KB of garbage in the middle of the file
        f.seek(size // 2)
        f.write(os.urandom(65536))

    refused(alertd(setup.config, "check"), f"{setup.db} is damaged", "alertd state restore")
    with RunningDaemon(setup.config) as daemon:
        assert daemon.wait(60) == 1
        log = daemon.tail()
    assert f"{setup.db} is damaged" in log and "Traceback" not in log

    restored = alertd(setup.config, "state", "restore")
    assert restored.returncode == 0, restored.stderr
    assert "carried in from the send journal: 1 emails sent since that backup" in restored.stdout
    assert list(setup.state.glob("alertd.sqlite3.damaged-*"))  # kept aside, not deleted
    assert alertd(setup.config, "check").returncode == 0

    with RunningDaemon(setup.config) as daemon:  # the daemon starts on the restored store and polls both feeds
        daemon.wait_ready()
        daemon.wait_log("feed polled", 60)  # Feodo changed since the backup: its later entry is read again
        daemon.wait_log("feed not modified", 60)
        assert daemon.stop() == 0
    assert setup.once().returncode == 0  # whatever the daemon left queued goes now
    assert setup.sent == 3  # nothing re-sent
    setup.serve(feodo(LATER, NEWER))
    assert setup.once().returncode == 0
    assert setup.sent == 4  # and nothing lost: the genuinely new entry is warned


def test_a_state_dir_alertd_cannot_write_is_a_configuration_error(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run alertd as another user (root ignores permissions)")
    # A folder everyone may read: the unprivileged user reads the configuration, not the state.
    root = Path(tempfile.mkdtemp(prefix="alertd-perm-"))
    try:
        root.chmod(0o755)
        config = copy_example(root / "config")
        state = root / "var" / "state"
        state.mkdir(parents=True)
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ALERTD, "-c", str(config)]
        for command in (["check"], ["run", "--once"], ["history"]):
            result = subprocess.run([*nobody, *command], capture_output=True, text=True, timeout=120, check=False)
            wanted = f"state_dir {state} is not writable" if command == ["check"] else f"{state}"
            refused(result, wanted, "needs read, write and search permission (rwx)")
        state.rmdir()
        result = subprocess.run([*nobody, "run", "--once"], capture_output=True, text=True, timeout=120, check=False)
        refused(result, f"cannot create state_dir {state}: permission denied in {state.parent}")
    finally:
        shutil.rmtree(root)


def test_a_file_in_place_of_state_dir_is_a_configuration_error(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    state = tmp_path / "var" / "state"
    state.parent.mkdir()
    state.write_text("")
    refused(alertd(config, "run", "--once"), f"state_dir {state} is a file, not a folder")
    refused(alertd(config, "check"), f"state_dir {state} is a file, not a folder")


def test_the_daemon_backs_up_at_start_when_no_backup_is_recent(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    with RunningDaemon(config) as daemon:
        daemon.wait_ready()
        (event,) = daemon.wait_log("state backed up", 60)
        assert daemon.stop() == 0
    made = Path(event["backup"])
    assert made.parent == tmp_path / "var" / "state" / "backups" and made.is_file()
    restored = alertd(config, "state", "restore")
    assert restored.returncode == 0, restored.stderr
    assert f"restored {tmp_path / 'var' / 'state' / 'alertd.sqlite3'} from {made}" in restored.stdout
