"""Lost, empty and damaged state, end to end (README "Recovering state", contract §1): the real ``alertd`` command
and daemon, feeds from a loopback HTTP server, a real SMTP relay counting what it accepts.

Detect (``check``, the daemon's start) → restore (``state restore``) → start: nothing told twice, nothing lost.
"""

from __future__ import annotations

import email
import os
import pwd
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

    refused(setup.once(), f"{setup.db}: no file", "sent 2 emails", "state restore", "alertd run --once --new-state")
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


def test_another_stores_backup_is_refused(setup: Setup, tmp_path: Path) -> None:
    """A backup of another site (or of another store) would send its queued emails and warn again of what this
    site told: ``state restore`` refuses it, and the store is left as it was."""
    assert setup.once().returncode == 0
    other = tmp_path / "site-b"
    other.mkdir()
    config_b = write_config(other, setup.feeds_yaml(), setup.smtp)
    assert alertd(config_b, "run", "--once").returncode == 0
    theirs = tmp_path / "site-b.sqlite3"
    assert alertd(config_b, "state", "backup", "--to", str(theirs)).returncode == 0
    sent = setup.sent

    refused(alertd(setup.config, "state", "restore", str(theirs)), f"{theirs} is a backup of store", "says this")
    assert not list(setup.state.glob("alertd.sqlite3.damaged-*"))  # nothing replaced
    assert alertd(setup.config, "check").returncode == 0
    assert setup.once().returncode == 0 and setup.sent == sent


@pytest.mark.slow  # five cycles on the KEV catalogue: ~15 s
def test_message_ids_stay_unique_after_a_restore(setup: Setup) -> None:
    """Alert ids start again from the backup's after a restore: a new warning must not carry the Message-ID of an
    earlier, different one (mail systems drop or merge such a message)."""
    assert setup.once().returncode == 0
    assert alertd(setup.config, "state", "backup").returncode == 0
    setup.serve(feodo(LATER))
    assert setup.once().returncode == 0
    assert alertd(setup.config, "state", "restore").returncode == 0
    setup.serve(feodo(LATER, NEWER))
    assert setup.once().returncode == 0
    ids = [email.message_from_bytes(m.content)["Message-ID"] for m in setup.smtp.messages]
    assert len(ids) == 4 and len(set(ids)) == 4, ids


def test_a_command_that_reads_never_makes_a_lost_store(tmp_path: Path) -> None:
    """With the backups on another disk, ``history`` (an operator's first look) used to make a new store where the
    lost one was, and the next start sent every warning again."""
    config = copy_example(tmp_path / "config")
    config.write_text(config.read_text() + "backups: {folder: ../var/other-disk/backups}\n")
    assert alertd(config, "run", "--once").returncode == 0
    assert alertd(config, "state", "backup").returncode == 0
    state = tmp_path / "var" / "state"
    shutil.rmtree(state)
    for command in (["history"], ["outbox"], ["preview", "--establishment", "000000011"]):
        refused(alertd(config, *command), f"{state / 'alertd.sqlite3'}: no file", "backups of it exist")
    assert not (state / "alertd.sqlite3").exists()
    refused(alertd(config, "check"), "no file")


def test_run_once_backs_up_when_due_and_bad_paths_are_usage_errors(tmp_path: Path) -> None:
    """Run from cron, ``run --once`` is the only thing running: it takes the backups the daemon would."""
    config = copy_example(tmp_path / "config")
    first = alertd(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    folder = tmp_path / "var" / "state" / "backups"
    (made,) = folder.iterdir()
    assert f"backed up the state to {made}" in first.stdout
    assert alertd(config, "run", "--once").returncode == 0
    assert list(folder.iterdir()) == [made]  # not due again for backups.every (6 h)

    missing = alertd(config, "state", "backup", "--to", str(tmp_path / "no" / "such" / "b.sqlite3"))
    assert missing.returncode == 2 and f"there is no folder {tmp_path / 'no' / 'such'}" in missing.stderr
    into = tmp_path / "offsite"
    into.mkdir()
    inside = alertd(config, "state", "backup", "--to", str(into))
    assert inside.returncode == 0, inside.stderr
    (copy,) = into.iterdir()  # the file inside the folder given, its temporary beside it (gone)
    assert copy.name.startswith("alertd-") and copy.name.endswith(".sqlite3")
    gone = alertd(config, "state", "restore", str(tmp_path / "nothing.sqlite3"))
    assert gone.returncode == 2 and f"{tmp_path / 'nothing.sqlite3'}: no such file" in gone.stderr


@pytest.mark.slow  # eight commands as two users on the example configuration: ~60 s
def test_commands_run_as_root_leave_the_state_to_its_owner(tmp_path: Path) -> None:
    """Under systemd's ``DynamicUser``/``StateDirectory`` the service's user owns state_dir and the operator runs
    ``state restore`` as root (README, "Recovering state"): every file root's commands make there must stay usable
    by the service; a file another user owns is a refusal naming it and its owner (exit 1), never exit 3."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run alertd as another user (root ignores permissions)")
    root = Path(tempfile.mkdtemp(prefix="alertd-owner-"))
    try:
        root.chmod(0o755)
        config = copy_example(root / "config")
        state, maildir = root / "var" / "state", root / "var" / "maildir"
        for folder in (state, maildir):
            folder.mkdir(parents=True, mode=0o700)
            shutil.chown(folder, "nobody", "nogroup")
        service = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ALERTD, "-c", str(config)]

        def as_service(*command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*service, *command], capture_output=True, text=True, timeout=120, check=False)

        for command in (["run", "--once"], ["state", "backup"]):
            assert as_service(*command).returncode == 0, command
        for command in (["state", "restore"], ["check"], ["history"], ["run", "--once"], ["state", "backup"]):
            result = alertd(config, *command)  # as root, as the README's procedure runs them
            assert result.returncode == 0, (command, result.stderr)
        nobody = pwd.getpwnam("nobody").pw_uid
        roots = [p for p in (*state.rglob("*"), *maildir.rglob("*")) if p.lstat().st_uid != nobody]
        assert roots == [], roots
        for command in (["check"], ["run", "--once"]):
            result = as_service(*command)
            assert result.returncode == 0, (command, result.stderr)

        refused(alertd(config, "run"), f"state_dir {state} belongs to nobody", "run the daemon as nobody")
        store = state / "alertd.sqlite3"
        os.chown(store, 0, 0)  # as an earlier alertd's restore run as root left it
        for command in (["check"], ["run", "--once"]):
            refused(as_service(*command), f"cannot open {store}: it belongs to root", f"chown nobody {store}")
    finally:
        shutil.rmtree(root)
