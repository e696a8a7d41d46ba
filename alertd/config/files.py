"""The operator's files (contract §2) parsed once into frozen, typed objects.

``load_config(path)`` reads ``alertd.yaml`` and every file it names, checks all of them and either returns a
:class:`Config` or raises :class:`ConfigError` listing every problem as ``file:line:col: message``. Nothing
downstream reads YAML or raw dicts.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alertd.config.checks import registry_warnings
from alertd.config.common import CUT_WORDS, cut_warning, looks_cut, read_listing
from alertd.config.feeds import read_feeds
from alertd.config.registry import RegistryCache, load_registry
from alertd.config.routing import read_inhibitions, read_subscriptions
from alertd.config.settings import read_settings
from alertd.config.sources import Recording, Snapshot, attach, exists, from_snapshot, recording, served_from
from alertd.config.yamlsrc import Reader, unreadable
from alertd.domain.errors import AlertdError, ConfigError, Problem
from alertd.domain.establishments import Registry
from alertd.domain.feeds import FeedConfig
from alertd.domain.routing import Inhibition, Subscription
from alertd.domain.settings import Settings
from alertd.store.loaded import MANIFEST, read_manifest


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    feeds: tuple[FeedConfig, ...]
    registry: Registry
    subscriptions: tuple[Subscription, ...]
    warnings: tuple[Problem, ...] = ()
    inhibitions: tuple[Inhibition, ...] = ()
    allowlist: tuple[tuple[str, str], ...] = ()  # (value, reason): never alerted on, whoever it concerns
    # One SHA-256 of the registry files' names and bytes as loaded: the key of what is built from the registry.
    registry_digest: str = ""

    def feed(self, feed_id: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.id == feed_id:
                return feed
        raise KeyError(feed_id)


def allowlist_entry_problem(value: str) -> str | None:
    """What is wrong with one allowlist value, or None when it is usable (for ``alertd check`` messages)."""
    text = value.strip()
    if not text:
        return "an allowlist entry may not be empty; write an address, a CIDR, a domain or an indicator value"
    if "/" in text and "://" not in text:
        try:
            ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f"; did you mean {ipaddress.ip_network(text, strict=False)}?"
            return f"bad network {text!r}: {exc}{hint}"
    return None


def _read_allowlist(path: Path, r: Reader) -> tuple[tuple[str, str], ...]:
    items = read_listing(path, "allowlist.yaml", "allowlist", r, may_be_empty=True)
    entries: list[tuple[str, str]] = []
    for item, pos in zip(items or (), items.item_pos if items else (), strict=True):
        am = r.mapping(item, pos, "an allowlist entry")
        if am is None or not r.keys(am, "an allowlist entry", ("value", "reason")):
            continue
        value, reason = r.value(am, "value", str), r.value(am, "reason", str)
        if value is None or reason is None:
            continue
        problem = allowlist_entry_problem(value)
        if problem:
            r.error(am.value_pos["value"], problem)
            continue
        entries.append((value, reason))
    return tuple(entries)


def load_config(path: Path, registry_cache: RegistryCache | None = None, *, warnings: bool = True) -> Config:
    """Load and check every file; raise :class:`ConfigError` with all the problems found.

    ``registry_cache`` (kept by the daemon across reloads) lets a reload re-read only the registry files whose
    bytes changed; one made with ``persist`` also keeps them in the state directory for the next command.
    ``warnings=False`` leaves out the registry's warnings (names the matcher leaves out, broad networks...): they
    serve ``alertd check``, and cost seconds at national scale where nobody reads them.
    """
    path = path.resolve()
    cache = RegistryCache() if registry_cache is None else registry_cache
    r = Reader()
    try:
        settings = read_settings(path, r)
    except ConfigError as exc:
        raise ConfigError(causes_first(r.problems + list(exc.problems))) from None
    if settings is None or not all(
        exists(p) for p in (settings.feeds_file, settings.registry_path, settings.subscriptions_file)
    ):
        raise ConfigError(r.problems)
    problems: list[Problem] = []
    feeds: tuple[FeedConfig, ...] = ()
    registry: Registry | None = None
    subs: tuple[Subscription, ...] = ()
    declared: set[str] = set()
    feeds_read = True
    try:
        feeds = read_feeds(settings.feeds_file, settings.tlp, r, declared)
    except ConfigError as exc:
        problems.extend(exc.problems)
        feeds_read = False
    feeds_file = str(settings.feeds_file)
    if not declared and any(p.file == feeds_file and not p.warning for p in r.problems):
        feeds_read = False  # not a list of feeds at all (a wrong top-level key, say): no id is known
    # Feed names in the other files are checked only against a feeds.yaml that could be read: "unknown feed"
    # for every name would hide the one error to fix, feeds.yaml's own.
    feed_ids = declared if feeds_read else None
    cache.attach(settings.state_dir)
    attach(settings.state_dir)
    try:
        registry = load_registry(settings.registry_path, cache)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        subs = read_subscriptions(settings.subscriptions_file, registry, feed_ids, settings.timezone, r)
    except ConfigError as exc:
        problems.extend(exc.problems)
    inhibitions: tuple[Inhibition, ...] = ()
    if settings.inhibitions_file is not None and exists(settings.inhibitions_file):
        try:
            inhibitions = read_inhibitions(settings.inhibitions_file, feed_ids, registry, r)
        except ConfigError as exc:
            problems.extend(exc.problems)
        today = datetime.now(settings.timezone).date()
        for inh in inhibitions:
            if inh.expires is not None and inh.expires < today:
                file, line, column = inh.where.rsplit(":", 2)
                message = f"inhibition expired on {inh.expires} (no longer applies)"
                problems.append(Problem(file, int(line), int(column), message, warning=True))
    allowlist: tuple[tuple[str, str], ...] = ()
    if settings.allowlist_file is not None:
        try:
            allowlist = _read_allowlist(settings.allowlist_file, r)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if registry is not None and warnings:
        problems.extend(registry_warnings(registry, cache.origins))
    operator_files = [path, settings.feeds_file, settings.subscriptions_file, settings.inhibitions_file]
    operator_files += [settings.allowlist_file, *(registry.files if registry is not None else ())]
    if not from_snapshot():  # the last byte of the files loaded, on disk: the snapshot's were whole
        problems.extend(cut_warning(file) for file in operator_files if file is not None and looks_cut(file))
    if settings.templates_dir is not None and not from_snapshot() and not settings.templates_dir.is_dir():
        problems.append(Problem(str(path), 1, 1, f"templates folder {settings.templates_dir} does not exist"))
    all_problems = causes_first(r.problems + problems)
    if any(not p.warning for p in all_problems) or registry is None:
        raise ConfigError(all_problems)
    digest = cache.digest(registry.files) if cache.persist else ""  # only a persistent cache keeps what is built
    return Config(settings, feeds, registry, subs, tuple(all_problems), inhibitions, allowlist, digest)


def load_recorded(path: Path, registry_cache: RegistryCache) -> tuple[Config, Recording]:
    """:func:`load_config` (without the registry's warnings) noting every file it read and the bytes the state
    directory does not hold yet: the daemon's loads, kept by :func:`alertd.store.loaded.keep` once they serve."""
    with recording(Recording()) as noted:
        config = load_config(path, registry_cache, warnings=False)
    return config, noted


class NoRunningConfig(AlertdError):
    """No daemon recorded what it loaded in this state directory."""


def load_running(state_dir: Path) -> Config:
    """The configuration the daemon of ``state_dir`` last loaded, read from the snapshot it kept there: the files as
    they were then, whatever they are on disk now. :class:`NoRunningConfig` when there is none; a
    :class:`ConfigError` when a file is missing from it."""
    try:
        manifest = read_manifest(state_dir)
    except OSError as exc:
        raise NoRunningConfig(
            f"the running configuration recorded in {state_dir} cannot be read ({exc.strerror or exc}): run the "
            "command as the daemon's user"
        ) from None
    if manifest is None:
        raise NoRunningConfig(
            f"no running configuration is recorded in {state_dir} ({MANIFEST} is written by 'alertd run' when it "
            "starts and at each reload): no daemon ran on this state_dir with this version of alertd; "
            "'alertd what-if --config EDITED' compares an edited copy with the files on disk instead"
        )
    with served_from(Snapshot(state_dir, manifest)):
        return load_config(Path(manifest.config), RegistryCache(), warnings=False)


def causes_first(problems: list[Problem]) -> list[Problem]:
    """A file that looks cut while written first (its syntax errors and missing keys follow from the cut), then
    the problems with the files that could not be read at all (not YAML, not UTF-8, unreadable), each kind in the
    order found: the first line printed, logged or put in STATUS= is then the one to fix first."""
    return sorted(problems, key=lambda problem: (problem.message != CUT_WORDS, not unreadable(problem)))


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The config file: ``-c``, then ``$ALERTD_CONFIG``, then ``/etc/alertd/alertd.yaml`` (contract §5)."""
    return Path(explicit or environ.get("ALERTD_CONFIG") or "/etc/alertd/alertd.yaml")


__all__ = ["Config", "NoRunningConfig", "causes_first", "config_path", "load_config", "load_recorded", "load_running"]
