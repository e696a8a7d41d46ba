"""The operator's files (contract §2) parsed once into frozen, typed objects.

``load_config(path)`` reads ``alertd.yaml`` and every file it names, checks all of them and either returns a
:class:`Config` or raises :class:`ConfigError` listing every problem as ``file:line:col: message``. Nothing
downstream reads YAML or raw dicts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from alertd.config.checks import registry_warnings
from alertd.config.common import read_listing
from alertd.config.feeds import read_feeds
from alertd.config.registry import RegistryCache, load_registry
from alertd.config.routing import read_inhibitions, read_subscriptions
from alertd.config.settings import read_settings
from alertd.config.yamlsrc import Reader
from alertd.domain.codes import NameProblem, UnsafeName
from alertd.domain.errors import ConfigError, Problem
from alertd.domain.establishments import Registry
from alertd.domain.feeds import FeedConfig
from alertd.domain.routing import Inhibition, Subscription
from alertd.domain.settings import Settings
from alertd.match.names import unsafe_names


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    feeds: tuple[FeedConfig, ...]
    registry: Registry
    subscriptions: tuple[Subscription, ...]
    warnings: tuple[Problem, ...] = ()
    inhibitions: tuple[Inhibition, ...] = ()
    allowlist: tuple[tuple[str, str], ...] = ()  # (value, reason): never alerted on, whoever it concerns

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


def _unsafe_why(u: UnsafeName) -> str:
    """Why the matcher leaves a name out, in the operator's words."""
    if u.problem is NameProblem.NO_LETTERS:
        return "has no letter or digit to match on"
    if u.problem is NameProblem.GENERIC_ONLY:
        return "is made only of generic words (" + ", ".join(u.words) + "): it would match everywhere"
    if u.problem is NameProblem.SHORT_WORD:
        return f"is a single word of fewer than 3 letters ({u.words[0]!r}): it would match unrelated text"
    if u.problem is NameProblem.ONE_SHORT_DISTINCTIVE:
        return (
            f"has only one short distinctive word ({' '.join(u.words)!r}) besides generic ones: "
            "it would match ordinary sentences"
        )
    listed = ", ".join(u.others[:3]) + (f" and {len(u.others) - 3} more" if len(u.others) > 3 else "")
    return f"is also a name or alias of establishment {listed}: a mention could not tell them apart"


def _unsafe_name_warnings(registry: Registry) -> list[Problem]:
    """Names and aliases the index will not look for, each with where it is written (one scan per file)."""
    unsafe = unsafe_names(registry)
    if not unsafe:
        return []
    names = {u.name for u in unsafe}
    where: dict[str, tuple[str, int, int]] = {}
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    for path in registry.files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for found in pattern.finditer(text):
            if found.group() not in where:
                line = text.count("\n", 0, found.start()) + 1
                where[found.group()] = (str(path), line, found.start() - text.rfind("\n", 0, found.start()))
    problems = []
    fallback = (str(registry.files[0]) if registry.files else "registry", 1, 1)
    for u in unsafe:
        at, line, column = where.get(u.name, fallback)
        message = (
            f"establishment {u.establishment!r}: name or alias {u.name!r} {_unsafe_why(u)}; it is not used for matching"
        )
        problems.append(Problem(at, line, column, message, warning=True))
    return problems


def load_config(path: Path, registry_cache: RegistryCache | None = None) -> Config:
    """Load and check every file; raise :class:`ConfigError` with all the problems found.

    ``registry_cache`` (kept by the daemon across reloads) lets a reload re-read only the registry files whose
    bytes changed.
    """
    path = path.resolve()
    r = Reader()
    try:
        settings = read_settings(path, r)
    except ConfigError as exc:
        raise ConfigError(r.problems + list(exc.problems)) from None
    if settings is None or not all(
        p.exists() for p in (settings.feeds_file, settings.registry_path, settings.subscriptions_file)
    ):
        raise ConfigError(r.problems)
    problems: list[Problem] = []
    feeds: tuple[FeedConfig, ...] = ()
    registry: Registry | None = None
    subs: tuple[Subscription, ...] = ()
    declared: set[str] = set()
    try:
        feeds = read_feeds(settings.feeds_file, settings.tlp, r, declared)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        registry = load_registry(settings.registry_path, registry_cache)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        subs = read_subscriptions(settings.subscriptions_file, registry, declared, settings.timezone, r)
    except ConfigError as exc:
        problems.extend(exc.problems)
    inhibitions: tuple[Inhibition, ...] = ()
    if settings.inhibitions_file is not None and settings.inhibitions_file.exists():
        try:
            inhibitions = read_inhibitions(settings.inhibitions_file, declared, registry, r)
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
    if registry is not None:
        problems.extend(_unsafe_name_warnings(registry))
        problems.extend(registry_warnings(registry))
    if settings.templates_dir is not None and not settings.templates_dir.is_dir():
        problems.append(Problem(str(path), 1, 1, f"templates folder {settings.templates_dir} does not exist"))
    all_problems = r.problems + problems
    if any(not p.warning for p in all_problems) or registry is None:
        raise ConfigError(all_problems)
    return Config(settings, feeds, registry, subs, tuple(all_problems), inhibitions, allowlist)


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The config file: ``-c``, then ``$ALERTD_CONFIG``, then ``/etc/alertd/alertd.yaml`` (contract §5)."""
    return Path(explicit or environ.get("ALERTD_CONFIG") or "/etc/alertd/alertd.yaml")


__all__ = ["Config", "config_path", "load_config"]
