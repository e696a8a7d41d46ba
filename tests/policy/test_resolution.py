"""A finding whose entry the feed delists becomes resolved, and the next digest says so, once."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from configs import alertd, write_config
from http_server import FeedServer
from smtp_server import SmtpServerFactory


def text_of(content: bytes) -> str:
    msg = email.message_from_bytes(content, policy=default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_delisted_finding_is_told_resolved_once(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    smtp = smtp_server(tls="starttls")
    with FeedServer() as server:
        url = server.url("/c2.csv")
        config = write_config(
            tmp_path, f"feeds:\n  - {{id: c2, url: '{url}', format: csv, interval: 1h, columns: {{ip: ip}}}}\n", smtp
        )
        (tmp_path / "subscriptions.yaml").write_text(
            "subscriptions:\n  - {name: daily, establishments: all, min_severity: info, "
            "delivery: {digest: '0 8 * * *'}, feeds: [c2]}\n"
        )
        (tmp_path / "feeds.yaml").write_text(
            (tmp_path / "feeds.yaml").read_text().replace("interval: 1h,", "interval: 1h, severity: high,")
        )

        def cycle(ips: list[str], version: str) -> str:
            server.route("/c2.csv", ("ip\n" + "\n".join(ips) + "\n").encode(), etag=f'"{version}"')
            assert alertd(config, "run", "--once").returncode == 0
            before = len(smtp.messages)
            digest = alertd(config, "digest", "--now")
            assert digest.returncode == 0, digest.stdout + digest.stderr
            new = smtp.messages[before:]
            assert len(new) == 1, [m.rcpt_tos for m in new]
            return text_of(new[0].content)

        first = cycle(["84.247.157.10", "84.247.157.11"], "v1")
        second = cycle(["84.247.157.11", "84.247.157.12"], "v2")
        third = cycle(["84.247.157.11", "84.247.157.12", "84.247.157.13"], "v3")

    assert "84[.]247[.]157[.]10" in first and "Ne sont plus signalés" not in first
    section = second.split("=== Ne sont plus signalés ===", 1)
    assert len(section) == 2, second
    assert "84[.]247[.]157[.]10" in section[1] and "84[.]247[.]157[.]12" in section[0]
    assert "84[.]247[.]157[.]10" not in third and "Ne sont plus signalés" not in third
