"""Test configurations written into a temporary folder: three establishments, feeds over a loopback server."""

from __future__ import annotations

import email
import re
import shutil
import sqlite3
import subprocess
import sys
from email.policy import default
from pathlib import Path
from textwrap import dedent

from paths import ROOT
from smtp_server import SmtpTestServer

ALERTD = str(Path(sys.executable).parent / "alertd")

ESTABLISHMENTS = """\
establishments:
  - id: e-chu
    name: CHU de Test
    kind: CHU
    language: fr
    contacts: [{email: rssi@chu-test.example}]
    networks: [84.247.157.0/24]
    software: [{vendor: Citrix, product: NetScaler ADC, version: "13.1-49.13"}]
  - id: e-clinic
    name: Test Clinic
    kind: clinique
    language: en
    contacts: [{email: security@clinic-test.example}]
    networks: [154.12.224.0/19]
  - id: e-quiet
    name: Quiet Hospital
    kind: CH
    contacts: [{email: quiet@quiet-test.example}]
    networks: [45.1.2.0/24]
    software: [{vendor: Acme, product: Widget}]
"""

SUBSCRIPTIONS = "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n"
# alertd.yaml of a test that delivers into a Maildir beside it: the feeds, registry and subscriptions files named
# as the tests write them.
MAILDIR_SETTINGS = """\
state_dir: state
feeds: feeds.yaml
registry: establishments.yaml
subscriptions: subscriptions.yaml
operators: [soc@cert-test.example]
sender: {from: "CERT Test <alertes@cert-test.example>"}
delivery: {method: maildir, maildir: maildir}
"""


def every_entry_is_news(feeds_yaml: str) -> str:
    """``feeds_yaml`` with ``backlog_after: never`` on each feed that does not set it: the tests built on these
    configs are about other things than backlog, and their sample entries are old (tests/service/test_backlog.py
    is about it). Works on both ways the tests write a feed: ``- {id: …}`` and ``- id: …``."""
    if re.search(r"^[^#]*backlog_after:", feeds_yaml, flags=re.MULTILINE):  # set by the test itself
        return feeds_yaml
    flow = re.sub(r"^(\s*)- \{", r"\1- {backlog_after: never, ", feeds_yaml, flags=re.MULTILINE)
    return re.sub(r"^(\s*)- id:(.*)$", r"\1- id:\2\n\1  backlog_after: never", flow, flags=re.MULTILINE)


def copy_example(config_dir: Path) -> Path:
    """The example configuration (``config/``) copied into ``config_dir``, every entry of its old samples news (for
    the tests about something else than backlog); its ``alertd.yaml``. Its acknowledgement page listens on a port
    the system picks: tests run side by side, and a fixed port would be taken by the first."""
    shutil.copytree(ROOT / "config", config_dir)
    feeds = config_dir / "feeds.yaml"
    feeds.write_text(every_entry_is_news(feeds.read_text()))
    settings = config_dir / "alertd.yaml"
    settings.write_text(settings.read_text().replace(EXAMPLE_WEB_LISTEN, "listen: 127.0.0.1:0"))
    return settings


EXAMPLE_WEB_LISTEN = "listen: 127.0.0.1:9110"


def write_config(tmp: Path, feeds_yaml: str, smtp: SmtpTestServer, *, backlog: bool = False) -> Path:
    """alertd.yaml and its files in ``tmp``, delivering to ``smtp`` over STARTTLS with its test CA. Every feed's
    entries are news unless ``backlog`` (or unless the feeds set ``backlog_after`` themselves)."""
    (tmp / "establishments.yaml").write_text(ESTABLISHMENTS)
    (tmp / "feeds.yaml").write_text(feeds_yaml if backlog else every_entry_is_news(feeds_yaml))
    (tmp / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
    ca = tmp / "ca.pem"
    ca.write_bytes(smtp.ca_pem_path.read_bytes())  # a copy: it outlives the server
    config = tmp / "alertd.yaml"
    config.write_text(
        dedent(
            f"""\
            state_dir: state
            feeds: feeds.yaml
            registry: establishments.yaml
            subscriptions: subscriptions.yaml
            sender: {{from: "CERT Test <alertes@cert-test.example>", reply_to: cert@cert-test.example}}
            delivery:
              method: smtp
              smtp: {{host: 127.0.0.1, port: {smtp.port}, security: starttls, ca_file: ca.pem}}
            """
        )
    )
    return config


def alertd(config: Path, *args: str, timeout: float = 120, log_level: str = "info") -> subprocess.CompletedProcess[str]:
    """Run the real ``alertd`` command on a config; output captured as text."""
    return subprocess.run(
        [ALERTD, "--log-level", log_level, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def numbered_world(tmp: Path, count: int, feeds_yaml: str, smtp_port: int) -> Path:
    """alertd.yaml and its files in ``tmp``: ``count`` establishments ``E0000``…, each owning ``81.a.b.0/24`` (the
    i-th: a = i // 250, b = i % 250) and warned at once of anything, by plain SMTP to 127.0.0.1:``smtp_port``; the
    feeds as given (the mass-dispatch tests: a crash, a stop)."""
    lines = ["establishments:"]
    for i in range(count):
        lines += [
            f"  - id: 'E{i:04d}'",
            f"    name: Etablissement {i:04d}",
            f"    contacts: [{{email: rssi{i}@est{i}.example}}]",
            f"    networks: [81.{i // 250}.{i % 250}.0/24]",
        ]
    (tmp / "establishments.yaml").write_text("\n".join(lines) + "\n")
    (tmp / "feeds.yaml").write_text(feeds_yaml)
    (tmp / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: now, establishments: all, min_severity: info, delivery: immediate}\n"
    )
    config = tmp / "alertd.yaml"
    config.write_text(
        "state_dir: state\nfeeds: feeds.yaml\nregistry: establishments.yaml\nsubscriptions: subscriptions.yaml\n"
        "sender: {from: 'CERT Test <alertes@cert-test.example>'}\n"
        f"delivery: {{method: smtp, smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none}}}}\n"
    )
    return config


# The acknowledgement links' key of the tests (48 bytes in base64, as the README says to make one).
ACK_KEY = "dGVzdCBrZXkgb2YgdGhlIGFja25vd2xlZGdlbWVudCBsaW5rcywgbm90IHNlY3JldCEh"


def example_with_web(config_dir: Path, base_url: str, *, listen: str = "127.0.0.1:0", rate_limit: str = "") -> Path:
    """The example configuration (:func:`copy_example`) with its ``web`` section replaced: the page on ``listen``,
    published at ``base_url``, its key in ``ack.key`` beside alertd.yaml (:data:`ACK_KEY`); its ``alertd.yaml``."""
    config = copy_example(config_dir)
    (config_dir / "ack.key").write_text(ACK_KEY + "\n")
    limit = f", rate_limit: {rate_limit}" if rate_limit else ""
    text = config.read_text()
    text = text[: text.index("\nweb:") + 1]  # the example's own section, the last one, replaced
    config.write_text(text + f"web: {{listen: '{listen}', base_url: '{base_url}', key_file: ack.key{limit}}}\n")
    return config


def ack_links(maildir: Path, base_url: str) -> dict[str, str]:
    """The personal link of each email in a Maildir, by the email's reference, read from its text part."""
    found = {}
    for path in sorted((maildir / "new").iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=default)
        body = msg.get_body(("plain",))
        assert body is not None
        words = body.get_content().split()
        url = next(w for w in words if w.startswith(base_url + "/"))
        reference = re.search(r"\[([A-Z0-9]+-\d{4}-[A-Z]{3}-\d{4,})\]", str(msg["Subject"]))
        assert reference is not None, msg["Subject"]
        found[reference.group(1)] = url
    return found


def ack_rows(state: Path) -> list[sqlite3.Row]:
    """The responses a store holds (its ``acks`` table), oldest first, read by a connection of the test's own."""
    db = sqlite3.connect(state)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM acks ORDER BY id").fetchall()
    finally:
        db.close()
