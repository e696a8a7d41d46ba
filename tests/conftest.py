"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
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
