"""``state_dir/running-config``: each file's bytes once under their SHA-256, written only when not there yet,
private, and removed once no manifest names them."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from alertd.store import loaded

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def manifest(files: dict[str, bytes]) -> loaded.Manifest:
    return loaded.Manifest("/etc/alertd/alertd.yaml", {p: digest(raw) for p, raw in files.items()}, {})


def test_only_new_bytes_are_written_and_unnamed_ones_removed(tmp_path: Path) -> None:
    first = {"/etc/alertd/alertd.yaml": b"settings\n", "/etc/alertd/r/a.yaml": b"a\n", "/etc/alertd/r/b.yaml": b"b\n"}
    fresh = {digest(raw): raw for raw in first.values()}
    assert loaded.keep(tmp_path, manifest(first), fresh, NOW) == 3
    second = first | {"/etc/alertd/r/b.yaml": b"b edited\n"}
    # Held since the load: only the edited file's bytes (the others are kept already).
    assert loaded.keep(tmp_path, manifest(second), {digest(b"b edited\n"): b"b edited\n"}, NOW) == 1
    folder = tmp_path / loaded.FOLDER
    assert sorted(p.name for p in folder.iterdir()) == sorted(digest(raw) for raw in second.values())
    assert loaded.read_kept(tmp_path, digest(b"b edited\n")) == b"b edited\n"
    assert loaded.read_kept(tmp_path, digest(b"b\n")) is None
    for path in [*folder.iterdir(), tmp_path / loaded.MANIFEST]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    document = json.loads((tmp_path / loaded.MANIFEST).read_text())
    assert document["files"] == {p: digest(raw) for p, raw in second.items()}
    assert document["loaded_at"] == "2026-12-02T12:00:00+00:00"


def test_bytes_removed_by_an_earlier_writer_are_read_again_when_the_file_is_unchanged(tmp_path: Path) -> None:
    settings = tmp_path / "alertd.yaml"
    settings.write_bytes(b"settings\n")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    files = {str(settings): b"settings\n"}
    # The load saw the bytes kept, so held none; they were removed since (a writer of an older manifest).
    assert loaded.keep(state_dir, manifest(files), {}, NOW) == 1
    assert loaded.read_kept(state_dir, digest(b"settings\n")) == b"settings\n"


def test_a_manifest_name_never_leads_out_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"x")
    assert loaded.read_kept(tmp_path / "state", "../secret") is None
