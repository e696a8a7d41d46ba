"""``alertd what-if --config NEW``: the recorded entries of a period matched and decided under the configuration in
force and under an edited one, with the real matcher and policy, and the difference shown per establishment.

Read-only: the store is opened with ``mode=ro`` (:mod:`alertd.store.replay`), nothing is sent, and neither the
registry's cache nor the index is written to the state directory. Safe beside the running daemon.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from alertd.config.files import Config, NoRunningConfig, load_config, load_running
from alertd.config.registry import RegistryCache
from alertd.domain.errors import ConfigError
from alertd.domain.feeds import FeedConfig
from alertd.domain.values import IndicatorType, Observation
from alertd.domain.whatif import Difference, LikelyMistake, Outcome
from alertd.intake.formats import FORMATS
from alertd.match.benign import Allowlist, BenignLists, default_benign
from alertd.match.index import MatchIndex
from alertd.policy.backlog import Contact, contact_keys
from alertd.policy.difference import (
    Sides,
    at_reload,
    compare,
    concerning,
    likely_mistakes,
    outcomes,
    reparsed_feeds,
    told_after,
)
from alertd.policy.inhibitions import apply_inhibitions
from alertd.render import whatif_text
from alertd.service.clock import utcnow
from alertd.service.poll import decode_listed
from alertd.store.codecs import split_rows
from alertd.store.replay import Replay
from alertd.store.sqlite import DATABASE

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
#: A likely mistake was warned of: a reload script stops on it (``what-if && systemctl reload alertd``). 3 is the
#: store that cannot be read.
EXIT_MISTAKES = 4


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The differences an edited configuration makes, its likely mistakes, and what was replayed."""

    differences: list[Difference]
    mistakes: list[LikelyMistake]
    entries: int
    since: datetime | None  # only the entries first seen since then; None: every entry listed now
    names: dict[str, str]


def what_if(running: Config, edited: Config, since: timedelta | None, now: datetime | None = None) -> WhatIf:
    """Replay the entries the feeds list now (those first seen within ``since`` when given) under both
    configurations (the store of ``running``): what a reload matches again."""
    now = now or utcnow()
    start = None if since is None else now - since
    replay = Replay(running.settings.state_dir / DATABASE)
    try:
        bodies = replay.listed_bodies(start)
        lists = default_benign()
        before_index = _index(running, lists)
        # The edited configuration's index takes the parts its edit left alone from the running one, as a reload.
        after_index = _index(edited, lists, before_index)
        before_obs = _observations(running, before_index, bodies)
        after_obs = _observations(edited, after_index, bodies, before_obs)
        cves = {
            i.value
            for found in (before_obs, after_obs)
            for observations in found.values()
            for obs in observations
            for i in obs.indicators
            if i.type is IndicatorType.CVE
        }
        known = replay.knowledge(cves) if cves else {}
        before = _outcomes(running, before_index, before_obs, known, now)
        after = _outcomes(edited, after_index, after_obs, known, now)
        subs = {s.name: s for s in running.subscriptions} | {s.name: s for s in edited.subscriptions}
        sides = Sides(
            old_subscriptions={s.name: s for s in running.subscriptions},
            old_feeds={f.id for f in running.feeds},
            new_feeds={f.id for f in edited.feeds},
            old_establishments=running.registry.establishments.keys(),
            new_establishments=edited.registry.establishments.keys(),
        )
        differences = _at_reload(compare(before, after, subs, sides), after, edited, replay, now)
    finally:
        replay.close()
    mistakes = likely_mistakes(
        before,
        after,
        old_registry=running.registry,
        new_registry=edited.registry,
        old_subscriptions=running.subscriptions,
        new_subscriptions=edited.subscriptions,
    )
    stored = {feed: len(found) for feed, found in bodies.items()}
    mistakes += reparsed_feeds(running.feeds, _copied_files_alike(running.feeds, edited.feeds), stored)
    names = {e.id: e.name for e in running.registry.establishments.values()}
    names |= {e.id: e.name for e in edited.registry.establishments.values()}
    return WhatIf(differences, mistakes, sum(map(len, bodies.values())), start, names)


def _at_reload(
    differences: list[Difference], after: dict[str, Outcome], edited: Config, replay: Replay, now: datetime
) -> list[Difference]:
    """The differences with what the reload sends for each: the findings the edited configuration tells, decided
    with what the store says of them (read-only), as the reload's re-match decides them."""
    told = told_after(differences, after)
    states = replay.finding_states(f.key for f in told)
    contact = Contact(
        replay.previous_polls(),
        replay.scope_since(contact_keys(edited.subscriptions, told)),
        replay.queued_inventory(key for key, state in states.items() if state.queued),
    )
    return at_reload(
        differences,
        after,
        registry=edited.registry,
        feeds={f.id: f for f in edited.feeds},
        subscriptions=edited.subscriptions,
        states=states,
        renotify=edited.settings.renotify,
        now=now,
        contact=contact,
    )


def _copied_files_alike(old: Sequence[FeedConfig], new: Sequence[FeedConfig]) -> list[FeedConfig]:
    """The edited feeds, a ``file://`` url that names a copy of the running one's file (the same bytes: an edited
    copy of the configuration folder, its relative paths resolved in the copy) taken as the same url."""
    before = {feed.id: feed for feed in old}
    result: list[FeedConfig] = []
    for feed in new:
        was = before.get(feed.id)
        if was is not None and was.url != feed.url and _same_file(was.url, feed.url):
            feed = replace(feed, url=was.url)
        result.append(feed)
    return result


def _same_file(a: str, b: str) -> bool:
    if not (a.startswith("file://") and b.startswith("file://")):
        return False
    try:
        return Path(a.removeprefix("file://")).read_bytes() == Path(b.removeprefix("file://")).read_bytes()
    except OSError:
        return False


def _index(config: Config, lists: BenignLists, previous: MatchIndex | None = None) -> MatchIndex:
    allowlist = Allowlist.from_entries(config.allowlist) if config.allowlist else None
    return MatchIndex(config.registry, benign=lists, allowlist=allowlist, previous=previous)


def _observations(
    config: Config, index: MatchIndex, bodies: dict[str, list[str]], decoded: dict[str, list[Observation]] | None = None
) -> dict[str, list[Observation]]:
    """The stored entries of the configuration's feeds (but the knowledge-only ones), per feed, decoded for
    ``index``: of a bulk list, only the rows it yields something for. A feed stored without bulk rows decodes the
    same for any index: taken from ``decoded`` when it has it."""
    found: dict[str, list[Observation]] = {}
    for feed in config.feeds:
        if feed.id not in bodies or FORMATS[feed.format].knowledge_only:
            continue
        if decoded is not None and feed.id in decoded and not split_rows(bodies[feed.id])[1]:
            found[feed.id] = decoded[feed.id]
        else:
            found[feed.id] = decode_listed(bodies[feed.id], index)
    return found


def _outcomes(
    config: Config, index: MatchIndex, observations: dict[str, list[Observation]], known: Any, now: datetime
) -> dict[str, Outcome]:
    matched = index.match([obs for found in observations.values() for obs in found], known)
    today = now.astimezone(config.settings.timezone).date()
    kept, held = apply_inhibitions(matched, config.inhibitions, today)
    return outcomes(
        kept.findings,
        held,
        registry=config.registry,
        feeds={f.id: f for f in config.feeds},
        subscriptions=config.subscriptions,
        now=now,
    )


def load_edited(path: str) -> Config | None:
    """The edited configuration, or None with its problems on stderr (exit 1). Its registry is parsed in memory:
    nothing is kept in the state directory."""
    try:
        return load_config(Path(path), RegistryCache(), warnings=False)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def cmd_what_if(
    running: Config, edited_path: str | None, since: timedelta | None, establishment: str | None, fmt: str
) -> int:
    """``alertd what-if``: exit 0 when it ran and warned of no likely mistake, differences or not (they are its
    output); 4 when it warned of one (a reload script stops on it); 1 when the edited configuration is invalid, or
    (``edited_path`` None: ``--against-running``) when no running one is recorded; 2 for an establishment in
    neither registry. Without ``edited_path`` the files on disk are the edited
    configuration and the running daemon's snapshot the current one."""
    if edited_path is None:
        on_disk, recorded = running, load_recorded_running(running)
        if recorded is None:
            return EXIT_INVALID
        running, edited = recorded, on_disk
    else:
        loaded = load_edited(edited_path)
        if loaded is None:
            return EXIT_INVALID
        edited = loaded
    if establishment is not None and not (
        establishment in running.registry.establishments or establishment in edited.registry.establishments
    ):
        print(f"alertd: no establishment has id {establishment!r} in either configuration", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_MISTAKES if show(what_if(running, edited, since), establishment, fmt) else EXIT_OK


def load_recorded_running(on_disk: Config) -> Config | None:
    """The configuration the daemon runs (its snapshot in ``state_dir``), or None with why on stderr (exit 1)."""
    try:
        return load_running(on_disk.settings.state_dir)
    except NoRunningConfig as exc:
        print(f"alertd: {exc}", file=sys.stderr)
    except ConfigError as exc:
        print("alertd: the running configuration's snapshot cannot be read:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
    return None


def show(result: WhatIf, establishment: str | None, fmt: str) -> int:
    """Print the differences (of one establishment, when given) and the likely mistakes in ``fmt``; returns how
    many likely mistakes were printed."""
    differences = concerning(result.differences, establishment)
    mistakes = [m for m in result.mistakes if establishment is None or establishment in m.subjects]
    if fmt == "json":
        since = None if result.since is None else result.since.isoformat(timespec="seconds")
        replayed = {"since": since, "entries": result.entries}
        # On one line: the C encoder (an indent takes the pure-Python one, 5x slower for 500,000 differences).
        print(json.dumps(whatif_text.as_json(differences, mistakes, replayed), ensure_ascii=False))
    elif fmt == "summary":  # one line per establishment changed, then the likely mistakes: read before a reload
        print("\n".join(whatif_text.summary(differences, mistakes) or ["no difference"]))
    else:
        read = f"replayed the {result.entries} entries the feeds list now"
        if result.since is not None:
            read += f", first seen since {result.since.isoformat(timespec='seconds')}"
        print("\n".join(whatif_text.text(differences, mistakes, result.names, read)))
    return len(mistakes)
