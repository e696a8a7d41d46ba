"""The one exception tree of alertd: every error says what happened and what the operator can do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class AlertdError(Exception):
    """Root of every error alertd raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a config file, at a position an editor can jump to."""

    file: str
    line: int
    column: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}:{self.column}: {prefix}{self.message}"


class ConfigError(AlertdError, ValueError):
    """The configuration is invalid; ``problems`` lists every position at fault."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class FeedError(AlertdError):
    """A feed could not be fetched or parsed; the other feeds go on."""


class FetchError(FeedError):
    """The feed's server or file could not be read (network, HTTP status, size cap, timeout)."""


class ParseError(FeedError):
    """The feed's content is not what its format promises."""


class StoreError(AlertdError):
    """The state store cannot be used as it is (e.g. written by a newer alertd)."""


class StateRefused(StoreError):
    """The state cannot be used until the operator acts (contract §1, "Recovering state"): the message names the
    path, what was found and the next step. Commands exit 1 on it, as on an invalid configuration."""


class StateDirError(StateRefused):
    """The state directory cannot be created, entered or written (a permission, a file in its place)."""


class LostState(StateRefused):
    """The store is missing, empty, older than what it had sent, or another store's, where the marker beside it
    (or a backup) says alertd's own existed: starting would re-send earlier warnings as news."""


class DamagedState(StateRefused):
    """The store's file is damaged (SQLite's quick check fails, or it is not a database at all): refused at start.
    Met at run time, the same words are held in memory (``service.vitals``): the daemon stays up, and its health
    reports it until the operator restores."""


class StaleAlerts(StoreError):
    """An email's alerts changed while it was rendered (a poll replaced one still queued): it is not queued, and the
    next dispatch renders the alerts as they are now (never the old one and the new one both)."""


class DeliveryError(AlertdError):
    """An email could not be handed over."""


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: 4xx replies, timeouts, disconnects, a full disk."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help: 5xx replies, authentication refused, no valid recipient."""
