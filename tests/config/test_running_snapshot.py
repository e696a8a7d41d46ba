"""What a load records (:func:`load_recorded`) and the configuration read back from it (:func:`load_running`): the
files the loader reads, never the secrets they name; every read served from the snapshot, whatever the disk holds;
a file the snapshot lacks, or no snapshot at all, said plainly."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertd.config.files import NoRunningConfig, load_recorded, load_running
from alertd.config.registry import RegistryCache
from alertd.domain.errors import ConfigError
from alertd.store import loaded

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SECRETS = {
    "smtp-password": "hunter2\n",
    "taxii-password": "taxii-secret\n",
    "signing-passphrase": "gpg-secret\n",
    "ack-key": "0123456789abcdef0123456789abcdef\n",
}


def one(name: str, network: str) -> str:
    """A registry file of one establishment, ``e-<name>``."""
    contacts = f"[{{email: it@{name}.example}}]"
    return f"establishments:\n  - {{id: e-{name}, name: Hopital {name}, contacts: {contacts}, networks: [{network}]}}\n"


def world(tmp: Path) -> Path:
    """A configuration naming every kind of secret file, with a registry folder of two files."""
    (tmp / "registry").mkdir()
    (tmp / "registry" / "a.yaml").write_text(one("a", "192.0.2.0/24"))
    (tmp / "registry" / "b.yaml").write_text(one("b", "198.51.100.0/24"))
    (tmp / "registry" / "notes.txt").write_text("not part of the registry\n")
    (tmp / "feeds.yaml").write_text(
        "feeds:\n"
        "  - id: taxii\n"
        "    url: https://taxii.example/api/collections/abc/\n"
        "    format: taxii\n"
        "    kind: compromise\n"
        "    interval: 1h\n"
        "    username: cert\n"
        "    password_file: taxii-password\n"
    )
    (tmp / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: all, establishments: all, min_severity: high, delivery: immediate}\n"
    )
    for name, text in SECRETS.items():
        (tmp / name).write_text(text)
    (tmp / "alertd.yaml").write_text(
        "state_dir: state\n"
        "feeds: feeds.yaml\n"
        "registry: registry\n"
        "subscriptions: subscriptions.yaml\n"
        "sender: {from: 'CERT <cert@cert.example>'}\n"
        "delivery:\n"
        "  method: smtp\n"
        "  smtp: {host: smtp.cert.example, username: cert, password_file: smtp-password}\n"
        "signing: {key: cert@cert.example, passphrase_file: signing-passphrase}\n"
        "web: {listen: '127.0.0.1:0', base_url: 'https://cert.example/ack', key_file: ack-key}\n"
    )
    return tmp / "alertd.yaml"


def kept(config: Path) -> Path:
    """Load ``config`` as the daemon does and keep what it read in its state_dir; the state_dir."""
    loaded_config, recorded = load_recorded(config, RegistryCache())
    state_dir = loaded_config.settings.state_dir
    state_dir.mkdir(mode=0o700, exist_ok=True)
    loaded.keep(state_dir, recorded.manifest(config), recorded.fresh, NOW)
    return state_dir


def test_a_load_records_the_files_it_read_and_the_registry_folder_never_a_secret(tmp_path: Path) -> None:
    config = world(tmp_path)
    _, recorded = load_recorded(config, RegistryCache())
    read = ["alertd.yaml", "feeds.yaml", "registry/a.yaml", "registry/b.yaml", "subscriptions.yaml"]
    assert sorted(recorded.files) == [str(tmp_path / name) for name in read]
    assert recorded.listings == {str(tmp_path / "registry"): ("a.yaml", "b.yaml")}
    state_dir = kept(config)
    stored = {p.read_bytes() for p in (state_dir / loaded.FOLDER).iterdir()}
    assert stored == {(tmp_path / name).read_bytes() for name in read}
    assert not any(secret.encode() in raw for secret in SECRETS.values() for raw in stored)
    assert not any(secret in (state_dir / loaded.MANIFEST).read_text() for secret in SECRETS.values())


def test_the_running_configuration_is_read_from_the_snapshot_whatever_the_disk_holds(tmp_path: Path) -> None:
    config = world(tmp_path)
    state_dir = kept(config)
    (tmp_path / "registry" / "b.yaml").unlink()  # a file removed,
    (tmp_path / "registry" / "c.yaml").write_text(one("c", "203.0.113.0/24"))  # one added,
    subs = tmp_path / "subscriptions.yaml"  # and one edited
    subs.write_text(subs.read_text().replace("min_severity: high", "min_severity: critical"))
    running = load_running(state_dir)
    assert sorted(running.registry.establishments) == ["e-a", "e-b"]
    assert [p.name for p in running.registry.files] == ["a.yaml", "b.yaml"]
    assert [s.min_severity.name for s in running.subscriptions] == ["HIGH"]


def test_a_file_the_snapshot_lacks_is_named(tmp_path: Path) -> None:
    config = world(tmp_path)
    state_dir = kept(config)
    digest = hashlib.sha256((tmp_path / "feeds.yaml").read_bytes()).hexdigest()
    (state_dir / loaded.FOLDER / digest).unlink()
    with pytest.raises(ConfigError) as caught:
        load_running(state_dir)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'feeds.yaml'}:1:1: this file lost from its snapshot ({state_dir}/running-config/); "
        "reload the daemon"
    ]


def test_bytes_that_are_not_their_digest_are_not_served(tmp_path: Path) -> None:
    config = world(tmp_path)
    state_dir = kept(config)
    digest = hashlib.sha256((tmp_path / "feeds.yaml").read_bytes()).hexdigest()
    (state_dir / loaded.FOLDER / digest).write_text("feeds: []\n")
    with pytest.raises(ConfigError, match="lost from its snapshot"):
        load_running(state_dir)


def test_no_snapshot_says_what_compares_with_the_disk_instead(tmp_path: Path) -> None:
    with pytest.raises(NoRunningConfig, match="'alertd what-if --config EDITED' compares an edited copy"):
        load_running(tmp_path / "state")


def test_a_snapshot_that_cannot_be_read_is_not_taken_for_none(tmp_path: Path) -> None:
    # A folder in its place stands for what an operator meets in the daemon's 0700 state directory: an OSError
    # other than "no such file".
    (tmp_path / "state" / loaded.MANIFEST).mkdir(parents=True)
    with pytest.raises(NoRunningConfig, match=r"cannot be read \(Is a directory\): run the command as the daemon"):
        load_running(tmp_path / "state")
