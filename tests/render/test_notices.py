"""Operator notices: a failing feed and a delivery refused for good reach the operators, once a day each."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory

from alertd.render.notices import Problem, compose_notice


def test_failing_feed_and_refused_delivery_are_told_once(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    smtp = smtp_server(tls="starttls")
    smtp.reject_recipient("rssi@chu-test.example", "550 5.1.1 no such mailbox")
    with FeedServer() as server:
        server.serve_dir("/data/", DATA)
        server.route("/down.csv", b"", status=503)
        feeds = (
            "feeds:\n"
            f"  - {{id: feodo, url: '{server.url('/data/abusech/feodotracker_ipblocklist_2024-04-04.csv')}', "
            "format: csv, interval: 30m, columns: {ip: dst_ip}}\n"
            f"  - {{id: down, url: '{server.url('/down.csv')}', format: csv, interval: 30m, columns: {{ip: ip}}, "
            "failures_alert: 1}\n"
        )
        config = write_config(tmp_path, feeds, smtp)
        config.write_text(config.read_text() + "operators: [soc@cert-test.example]\n")
        first = alertd(config, "run", "--once")
        assert first.returncode == 3
        second = alertd(config, "run", "--once")
        assert second.returncode == 3

    notices = [m for m in smtp.messages if m.rcpt_tos == ("soc@cert-test.example",)]
    assert len(notices) == 1, [m.rcpt_tos for m in smtp.messages]
    msg = email.message_from_bytes(notices[0].content, policy=default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "feed down failing" in str(msg["Subject"]) and "HTTP 503" in text
    assert "delivery 1 failed" in text and "550 5.1.1 no such mailbox" in text
    assert msg["Auto-Submitted"] == "auto-generated"
    # The clinic's warning went through; the CHU's was refused for good and stays visible as failed.
    assert any(m.rcpt_tos == ("security@clinic-test.example",) for m in smtp.messages)
    failed = alertd(config, "outbox", "--state", "failed")
    assert "rssi@chu-test.example" in failed.stdout


# -- the subject's TLP:RED marking (issue #13) ---------------------------------------------------------------

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FAILING = Problem("feed-failing:feodo", "feed feodo failing", "3 polls in a row failed")
RED = Problem("tlp-red:k", "TLP:RED finding for e-misp not emailed", "itosha.top from feed misp", once=True, red=True)


def _notice(*problems: Problem) -> tuple[str, str]:
    msg = compose_notice(
        problems,
        sender="CERT\u200b Test\u200f <alertes@cert-test.example>",
        operators=["soc@cert-test.example"],
        organisation="CERT Test",
        now=NOW,
        message_id="<n@cert-test.example>",
    )
    return str(msg["Subject"]), str(msg["From"])


def test_a_notice_carrying_a_red_finding_says_tlp_red_first() -> None:
    subject, _ = _notice(FAILING, RED)
    assert subject.startswith("[TLP:RED] [alertd] 2 problems: feed feodo failing; TLP:RED finding")


def test_a_notice_without_one_is_not_marked() -> None:
    subject, sender = _notice(FAILING)
    assert subject == "[alertd] 1 problem: feed feodo failing"
    assert sender == "CERT Test <alertes@cert-test.example>"  # the invisible characters of the name are gone
