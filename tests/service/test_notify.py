"""The systemd notify protocol against a real AF_UNIX datagram socket, as PID 1 would receive it."""

from __future__ import annotations

import array
import os
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertd.service.notify import Notifier


@pytest.fixture
def receiver() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a path; short, since AF_UNIX paths stop at 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="alertd-") as folder:
        path = str(Path(folder) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path
        sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket in the abstract namespace; ``NOTIFY_SOCKET`` spells it with a leading '@'."""
    name = f"alertd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def lines(sock: socket.socket) -> list[str]:
    return sock.recv(65536).decode().split("\n")


def test_ready_carries_status(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("watching 3 feeds for 4 establishments")
    assert lines(sock) == ["READY=1", "STATUS=watching 3 feeds for 4 establishments"]


def test_every_message_is_one_datagram(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.status("polling cisa-kev")
    assert notifier.stopping()
    assert notifier.watchdog()
    assert lines(sock) == ["STATUS=polling cisa-kev"]
    assert lines(sock) == ["STOPPING=1"]
    assert lines(sock) == ["WATCHDOG=1"]


def test_a_newline_cannot_smuggle_a_second_assignment(receiver: tuple[socket.socket, str]) -> None:
    # A reload error quotes config text: a newline in it must not become, say, READY=1 on a line of its own.
    sock, path = receiver
    Notifier({"NOTIFY_SOCKET": path}).status("reload refused: feeds.yaml:3:1: bad\nREADY=1")
    assert lines(sock) == ["STATUS=reload refused: feeds.yaml:3:1: bad READY=1"]


def test_reloading_carries_the_monotonic_clock(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert Notifier({"NOTIFY_SOCKET": path}).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = lines(sock)
    assert first == "RELOADING=1"
    key, _, value = second.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_abstract_namespace_address(abstract_receiver: tuple[socket.socket, str]) -> None:
    sock, address = abstract_receiver
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.address.startswith("\0")
    assert notifier.ready("ok")
    assert lines(sock) == ["READY=1", "STATUS=ok"]


def test_sender_is_this_process(receiver: tuple[socket.socket, str]) -> None:
    # NotifyAccess=main: systemd accepts a message only from the main PID, which it reads from SCM_CREDENTIALS.
    sock, path = receiver
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    Notifier({"NOTIFY_SOCKET": path}).watchdog()
    data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    assert data == b"WATCHDOG=1"
    creds = [d for level, kind, d in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
    assert creds, "no SCM_CREDENTIALS"
    pid, _uid, _gid = array.array("i", creds[0][: struct.calcsize("3i")])
    assert pid == os.getpid()


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready("ok")
    assert not notifier.watchdog()
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_is_not_an_error(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert not notifier.ready("ok")
    assert not Notifier({"NOTIFY_SOCKET": "@alertd-nobody-listens-" + uuid.uuid4().hex}).watchdog()


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch, receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    notifier = Notifier()
    assert notifier.watchdog_interval == 15.0
    assert notifier.watchdog()
    assert lines(sock) == ["WATCHDOG=1"]


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "1000000"}, 0.5),  # pinged at half the timeout, as sd_watchdog_enabled() advises
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, None),  # meant for another process (ExecStartPre, say)
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    assert Notifier({"NOTIFY_SOCKET": "/run/systemd/notify", **env}).watchdog_interval == interval


def test_watchdog_usec_zero_means_no_pings() -> None:
    # The daemon starts its ping task only for a truthy interval.
    assert not Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval
