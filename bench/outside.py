"""The real ``alertd`` timed from outside, as an operator or systemd waits for it: the helpers the start-up
benchmarks share (``bench/finess.py``, ``bench/start.py``).

A command's wall and CPU time; ``alertd run`` with a notify socket (READY=1 and RELOADING=1 as systemd sees them)
and its JSON log read as it is written, each line stamped with the time it was read, so that the time from the
start to the first poll, and from a SIGHUP to the reload logged, are measured without stopping the daemon.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ALERTD = str(Path(sys.executable).parent / "alertd")
POSTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "leaks" / "ransomware-live_posts_2023-06-04.json"
SETTINGS = """\
state_dir: state
feeds: feeds.yaml
registry: establishments/
subscriptions: subscriptions.yaml
operators: [soc@cert-bench.example]
sender: {from: "CERT Bench <alertes@cert-bench.example>"}
delivery: {method: maildir, maildir: maildir}
"""
FEEDS = "feeds:\n  - {id: leaks, url: file://posts.json, format: leak-victims, interval: 1h}\n"
SUBSCRIPTIONS = "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n"
DEADLINE = 300  # seconds: a command slower than this is reported as such, not waited for


def write_settings(folder: Path) -> None:
    """The settings of a start-up benchmark in ``folder``, beside its ``establishments/``: one leak-site feed read
    from a file (ransomware.live's 6,574 posts of 2023-06-04), one subscription, delivery to a Maildir."""
    (folder / "alertd.yaml").write_text(SETTINGS)
    (folder / "feeds.yaml").write_text(FEEDS)
    (folder / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
    shutil.copy(POSTS, folder / "posts.json")


def children_cpu() -> float:
    """The CPU seconds (user and system) of the children waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(pid: int) -> float:
    """The CPU seconds (user and system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(args: list[str], cwd: Path) -> dict[str, Any]:
    """A command's wall time and CPU time: on two cores shared with other jobs, the CPU time is the steadier."""
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=DEADLINE)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(children_cpu() - cpu, 2),
        "exit": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


class Daemon:
    """``alertd -c alertd.yaml run`` in ``folder``, its log lines and notify datagrams stamped as they come."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lines: list[tuple[float, str]] = []
        self.notices: list[tuple[float, str]] = []
        self._sock_path = str(folder / f"notify-{time.monotonic_ns()}.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self._sock_path)
        self._sock.settimeout(0.1)
        env = os.environ | {"PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": self._sock_path}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [ALERTD, "-c", "alertd.yaml", "run"], cwd=folder, stderr=subprocess.PIPE, text=True, env=env
        )
        self._threads = [threading.Thread(target=self._read_log), threading.Thread(target=self._read_notices)]
        for thread in self._threads:
            thread.start()

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.perf_counter(), line))

    def _read_notices(self) -> None:
        while self.proc.poll() is None:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            self.notices.append((time.perf_counter(), data.decode(errors="replace")))

    def wait_log(self, event: str, after: float = 0.0) -> float:
        """The time the first log line of ``event`` read after ``after`` was read at."""
        return self._wait(self.lines, f'"event": "{event}"', after)

    def wait_notice(self, field: str, after: float = 0.0) -> float:
        """The time the first notify datagram holding ``field`` (``READY=1``) received after ``after`` came."""
        return self._wait(self.notices, field, after)

    def _wait(self, seen: list[tuple[float, str]], wanted: str, after: float) -> float:
        limit = time.perf_counter() + DEADLINE
        done = 0
        while time.perf_counter() < limit:
            for at, text in seen[done:]:
                if at >= after and wanted in text:
                    return at
            done = len(seen)
            if self.proc.poll() is not None and not self._threads[0].is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError(f"the daemon never gave {wanted!r}; its log ends: {''.join(t for _, t in self.lines[-5:])}")

    def cpu(self) -> float:
        """The daemon's CPU seconds so far."""
        return cpu_of(self.proc.pid)

    def reload(self) -> float:
        """SIGHUP; the time it was sent."""
        sent = time.perf_counter()
        self.proc.send_signal(signal.SIGHUP)
        return sent

    def stop(self) -> None:
        """SIGTERM, and wait (SIGKILL after 30 s)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join()
        self._sock.close()
        Path(self._sock_path).unlink(missing_ok=True)


def yaml_rs_alone(registry: Path, cwd: Path) -> dict[str, Any]:
    """yaml-rs alone loading every ``*.yaml`` of ``registry``, in a fresh interpreter: the floor of a cold load."""
    script = (
        "import sys, yaml_rs, pathlib\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.yaml')): yaml_rs.loads(p.read_text())"
    )
    return timed([sys.executable, "-c", script, str(registry)], cwd)
