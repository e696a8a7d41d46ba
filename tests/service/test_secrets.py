"""The SMTP password never reaches the logs or the output, whether the login works or is refused."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest
from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory

from alertd.service.httpapi import HealthSnapshot
from alertd.store.sqlite import Store

SECRET = "Zq7-correct-horse-battery-staple-41x"


@pytest.mark.parametrize("server_password", [SECRET, "something-else"])
def test_password_never_logged(tmp_path: Path, smtp_server: SmtpServerFactory, server_password: str) -> None:
    smtp = smtp_server(tls="starttls", auth={"alertd": server_password})
    (tmp_path / "smtp-password").write_text(SECRET + "\n")
    with FeedServer() as server:
        server.serve_dir("/data/", DATA)
        feeds = (
            "feeds:\n"
            f"  - {{id: feodo, url: '{server.url('/data/abusech/feodotracker_ipblocklist_2024-04-04.csv')}', "
            "format: csv, interval: 30m, columns: {ip: dst_ip}}\n"
        )
        config = write_config(tmp_path, feeds, smtp)
        config.write_text(
            config.read_text().replace(
                "ca_file: ca.pem}", "ca_file: ca.pem, username: alertd, password_file: smtp-password}"
            )
        )
        result = alertd(config, "run", "--once", log_level="debug")
        outbox = alertd(config, "outbox")
    accepted = server_password == SECRET
    assert result.returncode == (0 if accepted else 3), result.stdout + result.stderr
    assert len(smtp.messages) == (2 if accepted else 0)
    if not accepted:
        assert "auth" in (result.stdout + outbox.stdout).lower()  # the failure is reported, without the secret
    for text in (result.stdout, result.stderr, outbox.stdout, outbox.stderr):
        assert SECRET not in text
        assert SECRET[:12] not in text


def test_a_relay_echoing_the_base64_of_the_login_leaks_nothing(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    """A 535 quoting the AUTH PLAIN base64 the client sent: no form of the password in the logs, the output, the
    outbox's last_error, /healthz or the operators' notice."""
    smtp = smtp_server(tls="starttls", auth={"alertd": "something-else"})
    smtp.echo_refused_auth()
    (tmp_path / "smtp-password").write_text(SECRET + "\n")
    with FeedServer() as server:
        server.serve_dir("/data/", DATA)
        feeds = (
            "feeds:\n"
            f"  - {{id: feodo, url: '{server.url('/data/abusech/feodotracker_ipblocklist_2024-04-04.csv')}', "
            "format: csv, interval: 30m, columns: {ip: dst_ip}}\n"
        )
        config = write_config(tmp_path, feeds, smtp)
        config.write_text(
            config.read_text().replace(
                "ca_file: ca.pem}", "ca_file: ca.pem, username: alertd, password_file: smtp-password}"
            )
            + "operators: [soc@cert-test.example]\n"
        )
        result = alertd(config, "run", "--once", log_level="debug")
        outbox = alertd(config, "outbox")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "535" in result.stdout  # the refusal is reported...
    store = Store.in_state_dir(tmp_path / "state")
    try:
        deliveries = store.deliveries()
        errors = [d.last_error or "" for d in deliveries]
        notices = [store.message(d.id).decode("utf-8", "replace") for d in deliveries if "[alertd]" in d.subject]
        health = HealthSnapshot()
        health.update(store.feed_states(), store.outbox_counts())
        healthz = json.dumps(health(), default=str)
    finally:
        store.close()
    assert any("535" in e for e in errors)
    assert notices, "the operators' notice about the failed deliveries was queued"
    forms = _forms(SECRET, "alertd")
    for text in (result.stdout, result.stderr, outbox.stdout, outbox.stderr, healthz, *errors, *notices):
        for form in forms:
            assert form not in text


def _forms(secret: str, user: str) -> list[str]:
    """The secret as typed and in every encoding a server could echo (long enough stretches of each)."""
    raw = secret.encode()
    return [
        secret,
        secret[:12],
        base64.b64encode(raw).decode()[:16],
        base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode()[12:28],
        urllib.parse.quote(secret, safe="")[:12],
        raw.hex()[:16],
    ]
