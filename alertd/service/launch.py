"""The ``alertd`` command's entry point: the stop and reload signals are caught before anything else is imported.

Importing the rest of alertd takes about a second, and loading the configuration more: a SIGHUP or SIGTERM then
must neither kill the daemon nor cut it short (contract §6, "Signals"). So this module, which imports nothing
heavy, installs :class:`~alertd.service.signals.EarlySignals` first, then imports the command. Importing it
installs them: only the console script and ``python -m alertd`` do.
"""

from __future__ import annotations

from alertd.service.signals import EarlySignals

EARLY = EarlySignals().install()

# Imported once the signals are caught: that order is the point of this module.
from alertd.service import cli  # noqa: E402


def main() -> int:
    """``alertd``: run the command line with the signals noted so far."""
    return cli.main(early=EARLY)


__all__ = ["main"]
