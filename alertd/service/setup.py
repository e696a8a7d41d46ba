"""A configuration made ready to serve: its match index, its templates and its signer, built once.

Building the index is slow for a national registry, so a reload builds all of it in a worker thread and the
engine then swaps it in whole (:meth:`alertd.service.engine.Engine.adopt`): no job ever sees half of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2

from alertd.config.files import Config
from alertd.match.benign import Allowlist
from alertd.match.index import MatchIndex
from alertd.render.environment import make_environment
from alertd.send.signing import Signer, SigningError


@dataclass(frozen=True, slots=True)
class Prepared:
    """One configuration and what it needs built before it can serve."""

    config: Config
    index: MatchIndex
    templates: jinja2.Environment
    signer: Signer | None


def prepare(config: Config) -> Prepared:
    """Everything a configuration needs built before it can serve (slow: a reload runs it in a worker thread)."""
    return Prepared(config, make_index(config), make_environment(config.settings.templates_dir), make_signer(config))


def make_index(config: Config) -> MatchIndex:
    """The match index of a configuration: its registry, the default benign lists and its allowlist."""
    allowlist = Allowlist.from_entries(config.allowlist) if config.allowlist else None
    return MatchIndex(config.registry, allowlist=allowlist)


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
