"""What a reload would take away: feeds, establishments and subscriptions present before and gone after.

A reload applies such a drop (an operator removes a feed on purpose) but says it, with the counts before → after
and the names dropped, in the log and in STATUS=. A file cut while written can still be valid YAML, only shorter:
when a file whose entries are dropped does not end with a line break (see
:func:`~alertd.config.common.looks_cut`), the reload is refused instead (contract §6, "Reload").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alertd.config.common import looks_cut
from alertd.config.files import Config

SHOWN = 5  # names listed in a line; the others are counted


@dataclass(frozen=True, slots=True)
class Drop:
    """Entries of one kind that a reload takes away."""

    what: str  # "feeds", "establishments", "subscriptions"
    before: int
    after: int
    dropped: tuple[str, ...]  # sorted
    files: tuple[Path, ...]  # where the entries of this kind are written

    def __str__(self) -> str:
        names = ", ".join(self.dropped[:SHOWN])
        more = f" and {len(self.dropped) - SHOWN} more" if len(self.dropped) > SHOWN else ""
        return f"{self.what} {self.before} → {self.after} (dropped: {names}{more})"


def drops(before: Config, after: Config) -> list[Drop]:
    """The kinds of entries of which ``after`` lacks some that ``before`` had (a rename counts as a drop)."""
    kinds = (
        ("feeds", [f.id for f in before.feeds], [f.id for f in after.feeds], (after.settings.feeds_file,)),
        (
            "establishments",
            list(before.registry.establishments),
            list(after.registry.establishments),
            after.registry.files,
        ),
        (
            "subscriptions",
            [s.name for s in before.subscriptions],
            [s.name for s in after.subscriptions],
            (after.settings.subscriptions_file,),
        ),
    )
    found = []
    for what, old, new, files in kinds:
        gone = sorted(set(old) - set(new))
        if gone:
            found.append(Drop(what, len(old), len(new), tuple(gone), tuple(files)))
    return found


def cut_refusal(found: list[Drop]) -> str | None:
    """Why a reload dropping ``found`` is refused — a file holding dropped entries looks cut (it does not end with
    a line break) — or None when none does. Reads the last byte of each file."""
    cut = sorted({path for drop in found for path in drop.files if looks_cut(path)})
    if not cut:
        return None
    return (
        f"{cut[0]} does not end with a line break and the reload would drop {describe(found)}: the file looks cut "
        "while written; complete it (it must end with a line break) and reload"
    )


def describe(found: list[Drop]) -> str:
    """``feeds 4 → 3 (dropped: cisa-kev); subscriptions 3 → 2 (dropped: urgent)``."""
    return "; ".join(str(drop) for drop in found)


__all__ = ["Drop", "cut_refusal", "describe", "drops"]
