"""The whole pipeline through the real ``alertd`` command: real feed samples over HTTP on loopback, a real
SQLite file, a real SMTP server with STARTTLS, and an independent count of what each establishment must get."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from textwrap import dedent

import pytest
from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA, ROOT
from smtp_server import SmtpServerFactory, SmtpTestServer


def sample_feeds(feeds: FeedServer) -> str:
    return dedent(
        f"""\
        feeds:
          - id: feodo
            url: {feeds.url("/data/abusech/feodotracker_ipblocklist_2024-04-04.csv")}
            format: csv
            columns: {{ip: dst_ip, port: dst_port, first_seen: first_seen_utc, malware: malware}}
            interval: 30m
          - id: kev
            url: {feeds.url("/data/kev/known_exploited_vulnerabilities.json")}
            format: cisa-kev
            interval: 1h
          - id: certfr
            url: {feeds.url("/data/rss/certfr_alertes_avis.xml")}
            format: rss
            interval: 15m
        """
    )


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def kev_cves(vendor: str, product_words: str) -> set[str]:
    """An independent count: the KEV entries of a vendor whose product names the given words."""
    catalog = json.loads((DATA / "kev/known_exploited_vulnerabilities.json").read_text())
    return {
        v["cveID"]
        for v in catalog["vulnerabilities"]
        if v["vendorProject"] == vendor and product_words.lower() in v["product"].lower()
    }


def feodo_ips_in(prefix: str) -> set[str]:
    rows = (DATA / "abusech/feodotracker_ipblocklist_2024-04-04.csv").read_text().splitlines()
    return {line.split(",")[1].strip('"') for line in rows if line.startswith('"2') and f'"{prefix}' in line}


@pytest.fixture
def setup(tmp_path: Path, smtp_server: SmtpServerFactory) -> Iterator[tuple[Path, FeedServer, SmtpTestServer]]:
    feeds = FeedServer()
    feeds.serve_dir("/data/", DATA)
    smtp = smtp_server(tls="starttls")
    with feeds:
        yield write_config(tmp_path, sample_feeds(feeds), smtp), feeds, smtp


def test_each_establishment_gets_its_own_warnings_once(
    setup: tuple[Path, FeedServer, SmtpTestServer],
) -> None:
    config, feeds, smtp = setup
    first = alertd(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "polled 3 feeds: 3 ok, 0 failed" in first.stdout

    by_rcpt = {m.rcpt_tos: m for m in smtp.messages}
    assert set(by_rcpt) == {("rssi@chu-test.example",), ("security@clinic-test.example",)}
    assert all(m.tls for m in smtp.messages)

    chu = email.message_from_bytes(by_rcpt[("rssi@chu-test.example",)].content, policy=default)
    clinic = email.message_from_bytes(by_rcpt[("security@clinic-test.example",)].content, policy=default)
    assert isinstance(chu, EmailMessage) and isinstance(clinic, EmailMessage)
    chu_text, clinic_text = text_of(chu), text_of(clinic)

    netscaler = kev_cves("Citrix", "NetScaler ADC")
    assert len(netscaler) >= 5
    for cve in netscaler:
        assert cve in chu_text
        assert cve not in clinic_text
    assert "84[.]247[.]157[.]112" in chu_text and "84.247.157.112" not in chu_text

    clinic_ips = feodo_ips_in("154.12.")
    assert len(clinic_ips) == 3
    for ip in clinic_ips:
        assert ip.replace(".", "[.]") in clinic_text
        assert ip.replace(".", "[.]") not in chu_text
    assert "84[.]247" not in clinic_text and "CVE-" not in clinic_text

    assert chu["Auto-Submitted"] == "auto-generated"
    assert chu["Message-ID"] and chu["Date"] and chu["Reply-To"] == "cert@cert-test.example"
    assert "TLP:" in chu["Subject"]
    assert chu.get_content_type() == "multipart/mixed"

    # The second cycle: the feeds answer 304, nothing new is found, nothing is sent.
    second = alertd(config, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert len(smtp.messages) == 2
    assert second.stdout.count("not modified since last poll") == 3
    kev_requests = feeds.requests("/data/kev/known_exploited_vulnerabilities.json")
    assert len(kev_requests) == 2 and "If-None-Match" in kev_requests[1].headers

    outbox = alertd(config, "outbox", "--state", "sent")
    assert outbox.returncode == 0 and len(outbox.stdout.strip().splitlines()) == 2


def test_dry_run_lists_findings_and_sends_nothing(setup: tuple[Path, FeedServer, SmtpTestServer]) -> None:
    config, _, smtp = setup
    result = alertd(config, "poll", "--dry-run", "--feed", "feodo")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    found = {(r["establishment"], r["indicator"]) for r in records if "suppressed" not in r}
    expected = {("e-chu", ip) for ip in feodo_ips_in("84.247.157.")} | {
        ("e-clinic", ip) for ip in feodo_ips_in("154.12.")
    }
    assert found == expected
    alerted = [r for r in records if "suppressed" not in r]
    assert all(r["severity"] == "imminent" and r["type"] == "ipv4" and r["feed"] == "feodo" for r in alerted)
    # Feodo C2 addresses in a cloud range (no establishment declared them as its own host) are set aside.
    assert all(r["suppressed"].startswith("warninglist:") for r in records if "suppressed" in r)
    assert smtp.messages == []


def test_a_broken_feed_is_reported_and_the_others_go_on(
    setup: tuple[Path, FeedServer, SmtpTestServer],
) -> None:
    config, feeds, smtp = setup
    feeds.route("/data/kev/known_exploited_vulnerabilities.json", b"<html>502 Bad Gateway</html>", status=502)
    result = alertd(config, "run", "--once")
    assert result.returncode == 3
    assert re.search(r"^  kev +FAILED: .*HTTP 502", result.stdout, re.MULTILINE), result.stdout
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "feed failed" and e["feed"] == "kev" for e in logged)
    # Feodo still reached both establishments.
    assert {m.rcpt_tos for m in smtp.messages} == {
        ("rssi@chu-test.example",),
        ("security@clinic-test.example",),
    }


def test_smtp_down_leaves_the_email_in_the_outbox(
    setup: tuple[Path, FeedServer, SmtpTestServer],
) -> None:
    config, _, smtp = setup
    smtp.stop()
    result = alertd(config, "run", "--once")
    assert result.returncode == 3
    pending = alertd(config, "outbox", "--state", "pending")
    assert len(pending.stdout.strip().splitlines()) == 2
    assert all("error: " in line for line in pending.stdout.splitlines())
    assert "polled 3 feeds: 3 ok, 0 failed" in result.stdout
    assert "2 deferred for retry" in result.stdout


def test_make_run_config_writes_readable_emails(tmp_path: Path) -> None:
    import shutil

    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "config", config_dir)
    result = alertd(config_dir / "alertd.yaml", "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "polled 4 feeds: 4 ok, 0 failed" in result.stdout
    # The summary counts the software findings by evidence: Cisco's advisory lists one IOS release, not the other.
    # Its advisory is old: on this first poll it goes to the inventory. (The two catalogues are polled at once, and
    # the alert of the CVE both list is counted under whichever records it first: 1 or 2 alerts here.)
    csaf = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("cisco-csaf"))
    evidence = r"\b(\d) alerts \(\1 for the inventory\); versions: 1 proved affected, 1 proved not affected$"
    assert re.search(evidence, csaf), csaf
    maildir = tmp_path / "var" / "maildir"
    assert f"maildir {maildir}" in result.stdout
    files = sorted((maildir / "new").iterdir())
    # The samples are old, so this first run is mostly backlog: each of the four establishments gets one inventory
    # email; the CHU also gets a warning of its own, for the C2 server Feodo marks online in its network.
    assert "emails: 5 written to the outbox (4 inventory)" in result.stdout
    assert len(files) == 5
    for file in files:
        msg = email.message_from_bytes(file.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        assert msg["To"] and "TLP:" in msg["Subject"]
        assert text_of(msg).strip()
