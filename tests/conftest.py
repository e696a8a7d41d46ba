"""Shared pytest fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paths import ROOT
from smtp_server import SmtpServerFactory, SmtpTestServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServerFactory]:
    """Start real SMTP servers on 127.0.0.1 (see ``tests/smtp_server.py``); all are stopped after the test."""
    servers: list[SmtpTestServer] = []

    def start(**options: Any) -> SmtpTestServer:
        server = SmtpTestServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A writable copy of the example configuration (``config/``), as ``tmp_path/config``."""
    dest = tmp_path / "config"
    shutil.copytree(ROOT / "config", dest)
    return dest
