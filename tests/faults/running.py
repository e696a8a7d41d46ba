"""The real ``alertd run`` in a subprocess, as systemd runs it, for the fault tests.

``NOTIFY_SOCKET`` points at a datagram socket the test reads (READY, STATUS, WATCHDOG, STOPPING), ``WATCHDOG_USEC``
is set, the JSON log lines on stderr go to a file the test can read while the daemon runs, and ``/healthz`` is
served on a loopback port. Extra environment (``LD_PRELOAD`` of libfaketime, say) is passed through ``env``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ALERTD = str(Path(sys.executable).parent / "alertd")


class RunningDaemon:
    """``alertd -c CONFIG run [ARGS]`` with a notify socket, a watchdog, a log file and an HTTP port.

    The config's ``alertd.yaml`` must already name ``http.listen`` when :meth:`healthz` is used (see
    :func:`with_http`)."""

    def __init__(
        self,
        config: Path,
        *args: str,
        env: dict[str, str] | None = None,
        watchdog_usec: int = 2_000_000,
        log_level: str = "info",
    ) -> None:
        self.config = config
        self.args = args
        self.workdir = config.parent
        self.log_path = self.workdir / f"alertd-{time.monotonic_ns()}.log"
        self.notify_path = str(self.workdir / f"notify-{time.monotonic_ns()}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        self.sock.settimeout(0.2)
        self.notices: list[str] = []
        self.extra_env = env or {}
        self.watchdog_usec = watchdog_usec
        self.log_level = log_level
        self.proc: subprocess.Popen[str] | None = None
        self._log_file: Any = None

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> RunningDaemon:
        env = {
            **os.environ,
            "NOTIFY_SOCKET": self.notify_path,
            "WATCHDOG_USEC": str(self.watchdog_usec),
            **self.extra_env,
        }
        self._log_file = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [ALERTD, "--log-level", self.log_level, "-c", str(self.config), "run", *self.args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            text=True,
        )
        return self

    def __enter__(self) -> RunningDaemon:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()

    def kill(self) -> None:
        """SIGKILL if still running; close the socket and the log file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code (within ``timeout`` seconds)."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- what it says -------------------------------------------------------------------------------

    def receive(self, seconds: float = 0.0) -> list[str]:
        """Read the notify socket for up to ``seconds`` (at least once, without blocking long); every datagram
        received so far is kept in :attr:`notices`."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.notices.append(self.sock.recv(65536).decode())
            except TimeoutError:
                if time.monotonic() >= deadline:
                    return self.notices
            except BlockingIOError:  # pragma: no cover - a non-blocking socket
                return self.notices

    def wait_notice(self, wanted: str, timeout: float = 60, *, after: int = 0) -> str:
        """The first datagram (from index ``after`` on) with a line starting with ``wanted``."""
        deadline = time.monotonic() + timeout
        while True:
            for notice in self.notices[after:]:
                if any(line.startswith(wanted) for line in notice.splitlines()):
                    return notice
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {wanted!r} within {timeout} s; got {self.notices[after:]}\n{self.tail()}")
            self._exited_check(wanted)
            self.receive(0.2)

    def wait_ready(self, timeout: float = 60) -> str:
        return self.wait_notice("READY=1", timeout)

    def statuses(self) -> list[str]:
        """Every STATUS= value sent so far, oldest first."""
        self.receive()
        return [
            line.removeprefix("STATUS=")
            for notice in self.notices
            for line in notice.splitlines()
            if line.startswith("STATUS=")
        ]

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (other stderr lines, a traceback say, are left out)."""
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs() if e.get("event") == name]

    def wait_log(self, name: str, timeout: float = 60, *, count: int = 1) -> list[dict[str, Any]]:
        """Wait until the event ``name`` was logged ``count`` times; those events."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(name)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {count}× {name!r} within {timeout} s\n{self.tail()}")
            self._exited_check(name)
            time.sleep(0.1)

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def _exited_check(self, wanted: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"alertd exited ({self.proc.returncode}) before {wanted!r}\n{self.tail()}")


def with_http(config: Path, port: int) -> None:
    """Have the daemon of ``config`` serve ``/healthz`` and ``/metrics`` on 127.0.0.1:``port``."""
    config.write_text(config.read_text() + f"http:\n  listen: 127.0.0.1:{port}\n")


def http_get(url: str, timeout: float = 10) -> tuple[int, Any]:
    """(status, body parsed as JSON when it is JSON, else text)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_for(predicate: Any, timeout: float, what: str, step: float = 0.1) -> None:
    """Poll ``predicate()`` until true, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(step)


def kill_now(proc: RunningDaemon) -> None:
    """SIGKILL (a crash, not a stop)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
