"""The systemd notify protocol, in-house: one datagram per state change to ``$NOTIFY_SOCKET``."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


class Notifier:
    """Sends ``READY=1``, ``STATUS=…``, ``WATCHDOG=1`` and friends; does nothing outside systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2_000_000 if usec.isdigit() and mine else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when not under systemd or the socket is gone."""
        if not self.address:
            return False
        payload = "\n".join(f.replace("\n", " ") for f in fields).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)  # a hung receiver must not freeze the event loop
            try:
                sock.connect(self.address)
                sock.sendall(payload)
            except OSError:
                return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, extend_seconds: float | None = None) -> bool:
        """STOPPING=1; with ``extend_seconds``, asks systemd to wait that long for the stop (EXTEND_TIMEOUT_USEC),
        should the unit's TimeoutStopSec say less."""
        if extend_seconds is None:
            return self.send("STOPPING=1")
        return self.send("STOPPING=1", f"EXTEND_TIMEOUT_USEC={int(extend_seconds * 1_000_000)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")
