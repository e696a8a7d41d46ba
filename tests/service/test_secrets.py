"""The SMTP password never reaches the logs or the output, whether the login works or is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory

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
