"""What the daemon loaded, kept in ``state_dir`` so that ``alertd check --against-running`` can compare the files on
disk with the configuration in force (contract §2).

``running-config.json`` (the *manifest*) names ``alertd.yaml``, the SHA-256 of every file the load read, the
registry folder's listing and when; ``running-config/<sha256>`` holds each file's bytes once, whatever its name:
a reload that changed one file writes one file, and a national registry is written once, not at every reload.
Files the manifest no longer names are removed once the new manifest is in place. Every file is written to a
temporary name and renamed (a reader sees the old or the new, never half), ``0600`` in a ``0700`` folder; a file's
bytes are checked against their digest when read back. Only what the configuration loader reads goes here: the
password and key files the configuration names are never read by it, so never copied.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

MANIFEST = "running-config.json"
FOLDER = "running-config"
FORMAT = "alertd-running-config-1"
_DIGEST = re.compile(r"[0-9a-f]{64}")

_WRITING = threading.Lock()  # one writer at a time: a reload's may start while the start's still runs


@dataclass(frozen=True, slots=True)
class Manifest:
    """What one load read: ``alertd.yaml``, each file's SHA-256 (hex) by absolute path, each folder's listing."""

    config: str
    files: Mapping[str, str]
    listings: Mapping[str, tuple[str, ...]]
    loaded_at: str = ""


def stored(state_dir: Path) -> set[str]:
    """The digests whose bytes are already kept (none when nothing is)."""
    try:
        return {p.name for p in (state_dir / FOLDER).iterdir() if not p.name.startswith(".")}
    except OSError:
        return set()


def _write(path: Path, payload: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
        Path(temporary).replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


def _reread(path: str, digest: str) -> bytes | None:
    """The file's bytes on disk when they are still those loaded."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    return raw if hashlib.sha256(raw).hexdigest() == digest else None


def keep(state_dir: Path, manifest: Manifest, fresh: Mapping[str, bytes], now: datetime) -> int:
    """Write the bytes of the manifest's files not kept yet (``fresh``: digest -> bytes held since the load), then
    the manifest, then remove what it no longer names; how many files were written. Raises OSError when the state
    directory cannot take them."""
    folder = state_dir / FOLDER
    with _WRITING:
        folder.mkdir(mode=0o700, exist_ok=True)
        present = stored(state_dir)
        written = 0
        for path, digest in manifest.files.items():
            if digest in present:
                continue
            # Held since the load, or (one an earlier writer removed meanwhile) read again if still the same.
            raw = fresh.get(digest) or _reread(path, digest)
            if raw is None:
                continue  # changed since: loading the snapshot says which file it lacks
            _write(folder / digest, raw)
            present.add(digest)
            written += 1
        document = {
            "format": FORMAT,
            "config": manifest.config,
            "loaded_at": now.isoformat(timespec="seconds"),
            "files": dict(manifest.files),
            "listings": {folder_: list(names) for folder_, names in manifest.listings.items()},
        }
        _write(state_dir / MANIFEST, json.dumps(document, ensure_ascii=False, indent=1).encode())
        wanted = set(manifest.files.values())
        for entry in folder.iterdir():
            if entry.name not in wanted:
                with contextlib.suppress(OSError):
                    entry.unlink()
    return written


def read_manifest(state_dir: Path) -> Manifest | None:
    """The manifest the daemon last wrote, or None when there is none (no daemon ever ran there) or it is not one;
    OSError when it cannot be read (another user's state directory)."""
    try:
        raw = (state_dir / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    try:
        document: Any = json.loads(raw)
        if document.get("format") != FORMAT:
            return None
        files = {str(k): str(v) for k, v in document["files"].items()}
        listings = {str(k): tuple(map(str, v)) for k, v in document["listings"].items()}
        return Manifest(str(document["config"]), files, listings, str(document.get("loaded_at", "")))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def read_kept(state_dir: Path, digest: str) -> bytes | None:
    """The bytes kept under ``digest``, or None when they are missing or are not those bytes."""
    if not _DIGEST.fullmatch(digest):  # a manifest's name never leads out of the folder
        return None
    try:
        raw = (state_dir / FOLDER / digest).read_bytes()
    except OSError:
        return None
    return raw if hashlib.sha256(raw).hexdigest() == digest else None
