"""``backups`` in ``alertd.yaml``: the daemon's scheduled backups of the store (contract §1, "Recovering state")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alertd.config.common import parse_duration, resolve_path
from alertd.config.yamlsrc import Reader, YMap
from alertd.domain.settings import DEFAULT_BACKUPS, BackupSettings

# More often than hourly adds disk writes for little: the send journal covers what a backup lacks.
MIN_EVERY = timedelta(hours=1)
MAX_KEEP = 1000


def read_backups(path: Path, m: YMap, r: Reader) -> BackupSettings:
    """``backups: {every: 6h | never, keep: 7, folder: DIR}``; the defaults for what is not given."""
    if "backups" not in m or (bm := r.mapping(m["backups"], m.value_pos["backups"], "'backups'")) is None:
        return DEFAULT_BACKUPS
    r.keys(bm, "'backups'", (), ("every", "keep", "folder"))
    every: timedelta | None = DEFAULT_BACKUPS.every
    text = r.value(bm, "every", str)
    if text == "never":
        every = None
    elif text is not None:
        try:
            every = parse_duration(text)
        except ValueError as exc:
            r.error(bm.value_pos["every"], f"{exc}, or 'never'")
        else:
            if every < MIN_EVERY:
                r.error(bm.value_pos["every"], f"backups every {text!r} is too often; give 1h or more, or 'never'")
    keep = r.value(bm, "keep", int, DEFAULT_BACKUPS.keep)
    if keep is not None and not 1 <= keep <= MAX_KEEP:
        r.error(bm.value_pos["keep"], f"keep {keep} backups? give 1 to {MAX_KEEP}")
        keep = DEFAULT_BACKUPS.keep
    folder = r.value(bm, "folder", str)
    return BackupSettings(
        every=every,
        keep=keep if keep is not None else DEFAULT_BACKUPS.keep,
        folder=resolve_path(path, folder) if folder else None,
    )
