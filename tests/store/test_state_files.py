"""The state files are private (0600) whatever the umask, and a symbolic link in their place is refused at start."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from configs import alertd, copy_example

from alertd.domain.errors import StoreError
from alertd.send.transports import MaildirTransport
from alertd.store.sqlite import Store


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The umask of a shell outside systemd (022): files would be created 0644."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_database_and_its_sidecars_are_created_0600(tmp_path: Path, lax_umask: None) -> None:
    store = Store.in_state_dir(tmp_path / "state")
    try:
        store.set_meta("probe", "x")  # a write: SQLite creates -wal and -shm
        assert store.claim_sender()
        files = sorted((tmp_path / "state").iterdir())
        assert {f.name for f in files} >= {
            "alertd.sqlite3",
            "alertd.sqlite3-wal",
            "alertd.sqlite3-shm",
            "alertd.sqlite3.send-lock",
        }
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert _mode(tmp_path / "state") == 0o700
    finally:
        store.close()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path, lax_umask: None) -> None:
    Store.in_state_dir(tmp_path).close()
    db = tmp_path / "alertd.sqlite3"
    db.chmod(0o644)
    Store.in_state_dir(tmp_path).close()
    assert _mode(db) == 0o600


def test_maildir_messages_are_0600(tmp_path: Path, lax_umask: None) -> None:
    transport = MaildirTransport(tmp_path / "maildir")
    asyncio.run(transport.send(b"Subject: x\r\n\r\nbody\r\n", "a@cert.example", ["b@chu.example"]))
    (message,) = (tmp_path / "maildir" / "new").iterdir()
    assert _mode(message) == 0o600


@pytest.mark.parametrize("name", ["alertd.sqlite3", "alertd.sqlite3-wal", "alertd.sqlite3.send-lock"])
def test_a_symbolic_link_in_place_of_a_state_file_is_refused(tmp_path: Path, name: str) -> None:
    state = tmp_path / "state"
    Store.in_state_dir(state).close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not alertd's")
    (state / name).unlink(missing_ok=True)
    (state / name).symlink_to(elsewhere)
    with pytest.raises(StoreError, match=f"{name} is a symbolic link; alertd does not follow links"):
        store = Store.in_state_dir(state)
        store.claim_sender()
    assert elsewhere.read_text() == "not alertd's"


def test_a_dangling_link_is_refused_too(tmp_path: Path) -> None:
    tmp_path.joinpath("alertd.sqlite3").symlink_to(tmp_path / "would-be-created")
    with pytest.raises(StoreError, match="is a symbolic link"):
        Store.in_state_dir(tmp_path)
    assert not (tmp_path / "would-be-created").exists()


def test_state_dir_itself_may_be_a_link(tmp_path: Path) -> None:
    # The operator's choice (/var/lib/alertd on another disk, say): only the files inside must be alertd's own.
    (tmp_path / "real").mkdir()
    (tmp_path / "state").symlink_to(tmp_path / "real")
    Store.in_state_dir(tmp_path / "state").close()
    assert (tmp_path / "real" / "alertd.sqlite3").is_file()


def test_the_command_refuses_to_start_on_a_linked_database(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    state = tmp_path / "var" / "state"
    state.mkdir(parents=True)
    (state / "alertd.sqlite3").symlink_to(tmp_path / "elsewhere.sqlite3")
    result = alertd(config, "outbox")
    assert result.returncode == 3
    assert "alertd.sqlite3 is a symbolic link" in result.stderr
    assert not (tmp_path / "elsewhere.sqlite3").exists()
