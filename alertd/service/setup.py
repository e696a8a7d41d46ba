"""A configuration made ready to serve: its match index, its templates, its signer and its links' key, built once.

Building the index is slow for a national registry, so a reload builds all of it in a worker thread and the
engine then swaps it in whole (:meth:`alertd.service.engine.Engine.adopt`): no job ever sees half of it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jinja2

from alertd.config.files import Config
from alertd.domain.errors import AlertdError
from alertd.intake.credentials import SecretFileError, read_secret
from alertd.match.benign import Allowlist
from alertd.match.index import MatchIndex
from alertd.render.acklink import MIN_KEY_BYTES, AckKey, AckLinks
from alertd.render.environment import make_environment
from alertd.send.signing import Signer, SigningError
from alertd.service.index_cache import benign_lists, index_key, kept_for_good, read_index, write_index
from alertd.service.logs import get_logger
from alertd.store.statecache import StateCache

log = get_logger("alertd")


@dataclass(frozen=True, slots=True)
class Prepared:
    """One configuration and what it needs built before it can serve."""

    config: Config
    index: MatchIndex
    templates: jinja2.Environment
    signer: Signer | None
    index_built: bool = True  # built now, not read back from the state directory: worth keeping there
    ack: AckLinks | None = None  # with ``web``: what the emails' personal links are made with


def prepare(config: Config, *, keep: bool = True, previous: MatchIndex | None = None) -> Prepared:
    """Everything a configuration needs built before it can serve (slow: a reload runs it in a worker thread).
    ``keep=False`` leaves keeping a newly built index in the state directory to :func:`keep_index`, later.
    ``previous``: the index serving before a reload, whose unchanged parts serve again."""
    index, built = _index(config, keep=keep, previous=previous)
    templates = make_environment(config.settings.templates_dir)
    return Prepared(config, index, templates, make_signer(config), built, make_ack_links(config))


def _allowlist(config: Config) -> Allowlist | None:
    return Allowlist.from_entries(config.allowlist) if config.allowlist else None


def make_index(config: Config) -> MatchIndex:
    """The match index of a configuration: its registry, the default benign lists and its allowlist. Read back
    from the state directory when a previous run built it from the same files (a configuration loaded with a
    persistent registry cache: the CLI's and the daemon's), and kept there once built."""
    return _index(config, keep=True)[0]


def _index(config: Config, *, keep: bool, previous: MatchIndex | None = None) -> tuple[MatchIndex, bool]:
    """The index, and whether it was built now (not read back)."""
    allowlist = _allowlist(config)
    if not config.registry_digest:
        return MatchIndex(config.registry, allowlist=allowlist, previous=previous), True
    started = time.perf_counter()
    cache = StateCache(config.settings.state_dir)
    key = index_key(config.registry_digest, allowlist)
    index = read_index(cache, key, config.registry)
    if index is not None:
        log.info("match index read back", seconds=round(time.perf_counter() - started, 2))
        return index, False
    # The default benign lists are those of alertd's version: the index before a reload has them already.
    benign = previous.benign if previous is not None else benign_lists(cache)
    with kept_for_good():
        index = MatchIndex(config.registry, benign=benign, allowlist=allowlist, previous=previous)
    log.info("match index built", seconds=round(time.perf_counter() - started, 2), reused=list(index.reused))
    if keep:
        keep_index(config, index)
    return index, True


def keep_index(config: Config, index: MatchIndex) -> None:
    """Keep a newly built index in the state directory for the next start (seconds: the daemon does it once the
    configuration serves, in a thread of its own); never raises."""
    if config.registry_digest:
        cache = StateCache(config.settings.state_dir)
        started = time.perf_counter()
        try:
            write_index(cache, index_key(config.registry_digest, _allowlist(config)), config.registry, index)
        except Exception as exc:  # a cache: nothing depends on it being written
            log.warning("match index not cached", error=repr(exc)[:200])
        else:
            log.info("match index kept", seconds=round(time.perf_counter() - started, 2))


def keep_index_later(prepared: Prepared) -> None:
    """:func:`keep_index` in a background thread when the index was built now: the process never waits for it
    (a stop in the middle leaves a temporary file, removed by the next write)."""
    if prepared.index_built and prepared.config.registry_digest:
        threading.Thread(
            target=keep_index, args=(prepared.config, prepared.index), name="keep-index", daemon=True
        ).start()


def make_signer(config: Config) -> Signer | None:
    """The PGP/MIME signer the settings ask for, or None; SigningError when its key cannot be used."""
    signing = config.settings.signing
    if signing is None:
        return None
    passphrase = None
    if signing.passphrase_file is not None:
        try:
            passphrase = signing.passphrase_file.read_text().rstrip("\n")
        except OSError as exc:
            raise SigningError(
                f"cannot read the signing passphrase file {signing.passphrase_file}: {exc.strerror}"
            ) from None
    return Signer(signing.gnupg_home, signing.key, passphrase)


class AckKeyError(AlertdError):
    """The links' signing key of ``web`` cannot be read or is too short: where, never what it holds."""


def make_ack_links(config: Config) -> AckLinks | None:
    """What the emails' personal links are made with, when the settings have ``web``; :class:`AckKeyError` when
    its key (``web.key_file``, else the systemd credential ``web.key``) is missing, unreadable or too short."""
    web = config.settings.web
    if web is None:
        return None
    try:
        found = read_secret(web.key_file, web.key)
    except SecretFileError as exc:
        raise AckKeyError(f"web: the link key {exc}") from None
    if found is None:
        where = f"{web.key_file} does not exist" if web.key_file else "web.key_file is not set"
        raise AckKeyError(
            f"web: no link key: {where}, and no systemd credential {web.key!r} is set; write {MIN_KEY_BYTES} random "
            f"bytes or more (head -c 48 /dev/urandom | base64 > FILE) and give it as LoadCredential={web.key}:FILE"
        )
    path, secret = found
    try:
        key = AckKey(secret.encode("utf-8"))
    except ValueError as exc:
        raise AckKeyError(f"web: {path}: {exc} (head -c 48 /dev/urandom | base64 > {path})") from None
    return AckLinks(key, web.base_url, web.link_ttl)
