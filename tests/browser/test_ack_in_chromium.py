"""The acknowledgement page in a real browser (issue #17, contract §4 "Acknowledgements"): headless Chromium
opens the personal link of a real email — written into the Maildir by the real ``alertd run --once`` — from the
page the real daemon serves, answers "faux positif" with a comment, and the store holds the answer; a mail
scanner replaying the link (a plain GET, or Chromium loading the page) records nothing; another establishment's
token, an expired one and a forged one are refused and shown nothing.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chromium import chromium_or_fail
from configs import ACK_KEY, ALERTD, ack_links, ack_rows, alertd, example_with_web
from http_server import unused_port
from playwright.sync_api import Browser, Page

from alertd.config.files import load_config
from alertd.render.acklink import AckKey, sign_token

KEY = AckKey(ACK_KEY.encode())
COMMENT = "Cette adresse est celle de notre Wi-Fi invités, pas un serveur."


@dataclass
class Served:
    base: str
    links: dict[str, str]  # by reference
    state: Path
    owners: dict[str, str]  # reference -> establishment id
    names: list[str]  # every establishment's name

    def acks(self) -> list[sqlite3.Row]:
        return ack_rows(self.state)


def _wait_for_port(port: int, proc: subprocess.Popen[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the page did not listen on port {port}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The example configuration with ``web``, its first cycle run, then the daemon serving the page."""
    port = unused_port()
    base = f"http://127.0.0.1:{port}/reponse"
    config = example_with_web(
        tmp_path_factory.mktemp("ack") / "config", base, listen=f"127.0.0.1:{port}", rate_limit="300/minute"
    )
    ran = alertd(config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    settings = load_config(config).settings
    state = settings.state_dir / "alertd.sqlite3"
    db = sqlite3.connect(state)
    owners = dict(db.execute("SELECT reference, establishment FROM outbox").fetchall())
    db.close()
    names = [e.name for e in load_config(config).registry.establishments.values()]
    proc = subprocess.Popen(
        [ALERTD, "-c", str(config), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_port(port, proc, time.monotonic() + 60)
        yield Served(base, ack_links(settings.maildir, base), state, owners, names)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The module's headless Chromium; fails, not skips, where Chromium is not installed."""
    with chromium_or_fail() as started:
        yield started


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_chromium_answers_false_positive_from_the_emails_link(served: Served, page: Page) -> None:
    reference, url = next(iter(served.links.items()))
    refused_by_policy: list[str] = []
    page.on("console", lambda message: refused_by_policy.append(message.text))
    before = len(served.acks())
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200
    assert page.locator("main").evaluate("e => getComputedStyle(e).maxWidth") == "640px"  # the hashed style applies
    assert reference in page.title() or reference in page.inner_text("h1")
    page.fill("#comment-not-us", COMMENT)
    page.click("#form-not-us button")
    page.wait_for_selector("#thanks")
    assert "Faux positif / pas chez nous" in page.inner_text("#thanks")
    rows = served.acks()
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["reference"], row["establishment"]) == (reference, served.owners[reference])
    assert (row["response"], row["comment"], row["source"]) == ("not-us", COMMENT, "127.0.0.1")
    assert refused_by_policy == []  # no Content-Security-Policy violation reported by the browser


def test_a_mail_scanner_replaying_the_links_records_nothing(served: Served, page: Page) -> None:
    before = len(served.acks())
    for url in served.links.values():
        for method in ("GET", "HEAD"):
            with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as response:
                assert response.status == 200
        loaded = page.goto(url, wait_until="load")
        assert loaded is not None and loaded.status == 200
    assert len(served.acks()) == before


def _refused(served: Served) -> dict[str, tuple[str, int]]:
    reference = next(iter(served.links))
    owner = served.owners[reference]
    other = next(est for est in served.owners.values() if est != owner)
    later = datetime.now(UTC) + timedelta(days=1)
    return {
        "another establishment's": (sign_token(KEY, other, reference, later), 403),
        "expired": (sign_token(KEY, owner, reference, datetime.now(UTC) - timedelta(minutes=1)), 410),
        "forged": (sign_token(AckKey(b"forged key, not the CERT's, 32 bytes or more"), owner, reference, later), 403),
    }


@pytest.mark.parametrize("kind", ["another establishment's", "expired", "forged"])
def test_other_expired_and_forged_tokens_are_refused(served: Served, page: Page, kind: str) -> None:
    token, status = _refused(served)[kind]
    before = len(served.acks())
    loaded = page.goto(f"{served.base}/{token}", wait_until="load")
    assert loaded is not None and loaded.status == status
    shown = page.inner_text("body")
    assert not [name for name in served.names if name in shown] and not page.query_selector("form")
    assert not [ref for ref in served.owners if ref in shown]
    # Posted by hand, the answer is refused as well.
    request = urllib.request.Request(
        f"{served.base}/{token}",
        data=b"form=x&response=seen",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as posted:
        urllib.request.urlopen(request, timeout=10)
    assert posted.value.code == status
    assert len(served.acks()) == before
