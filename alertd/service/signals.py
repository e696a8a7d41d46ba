"""Signals that arrive before the daemon's event loop runs (contract §6, "Signals").

Importing alertd and loading the configuration takes one to a few seconds; until the loop installs its own
handlers, SIGHUP's default action would kill the daemon and SIGTERM's would cut it wherever it stands. The
``alertd`` command's entry point (:mod:`alertd.service.launch`) installs :class:`EarlySignals` before it imports
anything else: they only take note. The daemon then acts on what was noted (:meth:`EarlySignals.hand_over`);
every other command gives the signals their usual meaning back (:meth:`EarlySignals.release`).
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

STOPS = (signal.SIGTERM, signal.SIGINT)
CAUGHT = (signal.SIGHUP, *STOPS)


class EarlySignals:
    """Takes note of SIGHUP, SIGTERM and SIGINT until the daemon (or another command) takes them over."""

    def __init__(self) -> None:
        self.stop: signal.Signals | None = None  # the first stop signal received
        self.hangups = 0
        self.last_hangup: float | None = None  # time.monotonic() of the last SIGHUP
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> EarlySignals:
        """Catch the signals from now on (in the main thread; Python runs the handler between two bytecodes)."""
        for sig in CAUGHT:
            self._previous[sig] = signal.signal(sig, self._noted)
        return self

    def _noted(self, signum: int, frame: FrameType | None) -> None:
        sig = signal.Signals(signum)
        if sig is signal.SIGHUP:
            self.hangups += 1
            self.last_hangup = time.monotonic()
        elif self.stop is None:
            self.stop = sig

    def hangup_since(self, moment: float) -> bool:
        """Whether a SIGHUP came at or after ``moment`` (a time.monotonic() value)."""
        return self.last_hangup is not None and self.last_hangup >= moment

    def ignore(self) -> None:
        """The process is on its way out because of a stop signal: the next ones change nothing. (Python gives
        the signals it handles their default action back while it finalises: a second SIGTERM then would kill
        the process, and turn its exit 0 into death by signal.)"""
        for sig in CAUGHT:
            signal.signal(sig, signal.SIG_IGN)

    def release(self) -> None:
        """Give the signals back their usual handlers, then deliver again what came meanwhile, so that a command
        other than the daemon behaves as if it had never caught them (SIGTERM and SIGHUP end it, SIGINT raises
        KeyboardInterrupt)."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        if self.stop is not None:
            signal.raise_signal(self.stop)
        if self.hangups:
            signal.raise_signal(signal.SIGHUP)


__all__ = ["CAUGHT", "STOPS", "EarlySignals"]
