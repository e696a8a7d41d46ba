"""The acknowledgement page over HTTP on loopback (contract §4, "Acknowledgements"), on the emails the real
``alertd run --once`` wrote for the example configuration: what a GET shows and never records, what a POST
records, and every refusal — another establishment's token, an expired or forged one, a form from elsewhere,
too many requests."""

from __future__ import annotations

import http.client
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from configs import ACK_KEY, ack_links, ack_rows, alertd, example_with_web

from alertd.config.files import load_config
from alertd.domain.acknowledgement import AckResponse
from alertd.render.acklink import AckKey, sign_token
from alertd.render.ackpage import security_policy
from alertd.service.ackweb import AckWeb, clean_comment, source_address
from alertd.service.setup import Prepared, prepare
from alertd.store.acks import AckBook

BASE = "https://alertes.cert-sante.example/reponse"
ORIGIN = "https://alertes.cert-sante.example"
KEY = AckKey(ACK_KEY.encode())


class World:
    def __init__(self, config: Path, printed: str) -> None:
        self.config = config
        self.printed = printed  # what ``alertd run --once`` printed
        self.prepared: Prepared = prepare(load_config(config))
        settings = self.prepared.config.settings
        self.state = settings.state_dir / "alertd.sqlite3"
        self.links = ack_links(settings.maildir, BASE)
        self.book = AckBook(self.state)
        assert settings.web is not None
        self.web = AckWeb(settings.web, self.book, lambda: self.prepared)
        self.web.start()
        host, port = urlsplit(self.web.url).hostname, urlsplit(self.web.url).port
        assert host is not None and port is not None
        self.host, self.port = host, port

    def request(
        self, method: str, url: str, body: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One request to the page, the path of ``url`` (the link as published) sent as the proxy would."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            sent = dict(headers or {})
            data = None
            if body is not None:
                data = urlencode(body).encode()
                sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
            conn.request(method, urlsplit(url).path, body=data, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            conn.close()

    def acks(self) -> list[sqlite3.Row]:
        return ack_rows(self.state)

    def form(self, url: str) -> str:
        status, _headers, html = self.request("GET", url)
        assert status == 200
        return html.split('name="form" value="', 1)[1].split('"', 1)[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    config = example_with_web(tmp_path_factory.mktemp("ackweb") / "config", BASE, rate_limit="1000/minute")
    ran = alertd(config, "run", "--once", "--print-links")
    assert ran.returncode == 0, ran.stderr
    w = World(config, ran.stdout)
    yield w
    w.web.stop()
    w.book.close()


def warning(world: World) -> tuple[str, str]:
    """The reference and link of the example's first warning."""
    return next(iter(world.links.items()))


def test_every_email_carries_its_own_link(world: World) -> None:
    emails = list((world.prepared.config.settings.maildir / "new").iterdir())
    assert len(emails) >= 2 and len(set(world.links.values())) == len(emails)


def test_run_once_prints_each_emails_link(world: World) -> None:
    printed = world.printed.split("acknowledgement links:\n", 1)[1].splitlines()
    listed = {line.split()[0]: line.split()[2] for line in printed if line.startswith("  ")}
    assert listed == world.links  # the very link each email carries


def test_run_once_prints_no_link_unless_asked(tmp_path: Path) -> None:
    config = example_with_web(tmp_path / "config", BASE)
    ran = alertd(config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    assert BASE not in ran.stdout and "acknowledgement links: " in ran.stdout  # cron mails it, the journal keeps it


def test_history_shows_the_responses(world: World) -> None:
    reference, url = list(world.links.items())[-1]
    status, _headers, _html = world.request("POST", url, {"form": world.form(url), "response": "fixed"})
    assert status == 200
    rows = [json.loads(line) for line in alertd(world.config, "history", "--json").stdout.splitlines()]
    answered = [r["responses"] for r in rows if r["reference"] == reference]
    assert answered and all(a[-1]["response"] == "fixed" and a[-1]["source"] == "127.0.0.1" for a in answered)
    assert all(r["responses"] == [] for r in rows if r["reference"] not in (reference, warning(world)[0]))
    assert f"in {reference} " in (text := alertd(world.config, "history").stdout) and "; answered fixed at " in text


def test_a_get_shows_that_emails_alerts_and_records_nothing(world: World) -> None:
    before = len(world.acks())
    reference, url = warning(world)
    for method in ("GET", "HEAD", "GET"):
        status, headers, html = world.request(method, url)
        assert status == 200
    assert reference in html and "TLP:AMBER" in html
    assert "Pris en compte" in html and "Faux positif / pas chez nous" in html  # the establishment's language
    assert html.count("<form ") == 4 and "<script" not in html and " style=" not in html
    assert headers["Content-Security-Policy"] == security_policy(html)
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert (headers["X-Frame-Options"], headers["Referrer-Policy"]) == ("DENY", "no-referrer")
    assert headers["Cache-Control"] == "no-store"
    assert len(world.acks()) == before


def test_the_page_shows_nothing_of_another_establishment(world: World) -> None:
    registry = world.prepared.config.registry.establishments
    for reference, url in world.links.items():
        _status, _headers, html = world.request("GET", url)
        est = world.book.email(reference)
        assert est is not None
        others = [e.name for e in registry.values() if e.id != est.establishment]
        assert not [name for name in others if name in html], reference


def test_a_post_records_the_response_with_its_time_and_source(world: World) -> None:
    reference, url = warning(world)
    mark = world.form(url)
    before = datetime.now(UTC)
    comment = "Adresse de notre Wi-Fi invités\x00\x1b[31m\r\nrien à voir\u202e" + "x" * 3000
    status, _headers, html = world.request(
        "POST", url, {"form": mark, "response": "not-us", "comment": comment}, {"Origin": ORIGIN}
    )
    assert status == 200
    assert "votre réponse « Faux positif / pas chez nous » est enregistrée" in html.replace("\xa0", " ")
    row = world.acks()[-1]
    assert (row["reference"], row["response"], row["source"]) == (reference, "not-us", "127.0.0.1")
    assert row["establishment"] == world.book.email(reference).establishment  # type: ignore[union-attr]
    assert row["comment"].startswith("Adresse de notre Wi-Fi invités[31m  rien à voir")
    assert len(row["comment"]) == 2000
    assert datetime.fromisoformat(row["at"]) >= before
    _status, _headers, again = world.request("GET", url)
    assert "Réponses déjà reçues" in again


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        ({"form": ""}, {}),
        ({"form": "A" * 43}, {}),
        ({"response": "delete-everything"}, {}),
        ({}, {"Origin": "https://evil.example"}),
        ({}, {"Origin": "null"}),
        ({}, {"Sec-Fetch-Site": "cross-site"}),
        ({}, {"Sec-Fetch-Site": "same-site"}),
        ({}, {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}),
        ({}, {"Content-Type": "text/plain"}),
    ],
)
def test_a_form_from_elsewhere_records_nothing(world: World, change: dict[str, str], headers: dict[str, str]) -> None:
    _reference, url = warning(world)
    before = len(world.acks())
    body = {"form": world.form(url), "response": "seen", **change}
    status, _headers, html = world.request("POST", url, body, headers)
    assert status == 403
    assert "rouvrez le lien" in html
    assert len(world.acks()) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"},
        # What Chromium sends from a page under Referrer-Policy: no-referrer: its Origin is "null".
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        {},  # no browser headers at all: the form token alone
    ],
)
def test_a_form_from_the_page_itself_is_recorded(world: World, headers: dict[str, str]) -> None:
    _reference, url = warning(world)
    before = len(world.acks())
    status, _headers, _html = world.request("POST", url, {"form": world.form(url), "response": "seen"}, headers)
    assert status == 200
    assert len(world.acks()) == before + 1


def test_a_form_of_another_email_does_not_answer_this_one(world: World) -> None:
    (_r1, first), (_r2, second) = list(world.links.items())[:2]
    before = len(world.acks())
    status, _headers, _html = world.request("POST", first, {"form": world.form(second), "response": "seen"})
    assert status == 403
    assert len(world.acks()) == before


def test_an_oversized_form_is_refused_unread(world: World) -> None:
    _reference, url = warning(world)
    before = len(world.acks())
    status, _h, _html = world.request("POST", url, {"form": world.form(url), "response": "seen", "c": "x" * 20_000})
    assert status == 403
    assert len(world.acks()) == before


def refused_tokens(world: World) -> dict[str, tuple[str, int]]:
    reference, url = warning(world)
    owner = world.book.email(reference)
    assert owner is not None
    other = next(e for e in world.prepared.config.registry.establishments if e != owner.establishment)
    later = datetime.now(UTC) + timedelta(days=1)
    return {
        "another establishment's": (sign_token(KEY, other, reference, later), 403),
        "expired": (sign_token(KEY, owner.establishment, reference, datetime.now(UTC) - timedelta(seconds=1)), 410),
        "forged": (sign_token(AckKey(b"f" * 48), owner.establishment, reference, later), 403),
        "truncated": (url.rpartition("/")[2][:-3], 403),
        "unknown reference": (sign_token(KEY, owner.establishment, "CERTSANTE-2026-ALE-9999", later), 403),
    }


@pytest.mark.parametrize("kind", ["another establishment's", "expired", "forged", "truncated", "unknown reference"])
def test_refused_tokens_see_nothing_and_record_nothing(world: World, kind: str) -> None:
    token, expected = refused_tokens(world)[kind]
    before = len(world.acks())
    names = [e.name for e in world.prepared.config.registry.establishments.values()]
    for method, body in (("GET", None), ("POST", {"form": "x", "response": "seen"})):
        status, headers, html = world.request(method, f"{BASE}/{token}", body)
        assert status == expected, (kind, method)
        assert not [n for n in names if n in html] and "CERTSANTE" not in html
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert len(world.acks()) == before


def test_too_many_requests_from_one_address_are_refused(world: World) -> None:
    web = AckWeb(
        replace(world.web.web, listen="127.0.0.1:0", rate_limit="3/minute"), world.book, lambda: world.prepared
    )
    web.start()
    try:
        _reference, url = warning(world)
        conn_url = web.url + urlsplit(url).path
        statuses = []
        for _ in range(5):
            parts = urlsplit(conn_url)
            conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=10)
            conn.request("GET", parts.path)
            statuses.append(conn.getresponse().status)
            conn.close()
        assert statuses == [200, 200, 200, 429, 429]
    finally:
        web.stop()


def test_comments_lose_control_characters_and_are_capped() -> None:
    assert clean_comment(" a\x00b\u200bc\r\nd\u202e ") == "abc  d"
    assert len(clean_comment("é" * 10_000)) == 2000
    assert clean_comment(AckResponse.SEEN) == "seen"


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "source"),
    [
        ("203.0.113.9", "198.51.100.1", (), "203.0.113.9"),  # a client's own header is not believed
        ("127.0.0.1", "198.51.100.1", ("127.0.0.1/32",), "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", ("127.0.0.1/32",), "198.51.100.1"),  # the nearest untrusted hop
        ("127.0.0.1", "198.51.100.1, 10.0.0.2", ("127.0.0.1/32", "10.0.0.0/8"), "198.51.100.1"),
        ("127.0.0.1", "not-an-address", ("127.0.0.1/32",), "127.0.0.1"),
        ("127.0.0.1", None, ("127.0.0.1/32",), "127.0.0.1"),
    ],
)
def test_the_source_address_believes_trusted_proxies_only(
    peer: str, forwarded: str | None, trusted: tuple[str, ...], source: str
) -> None:
    assert source_address(peer, forwarded, trusted) == source


@pytest.mark.parametrize(("key", "said"), [(None, "does not exist"), ("short secret", "at least 32")])
def test_check_refuses_a_missing_or_short_key_without_showing_it(tmp_path: Path, key: str | None, said: str) -> None:
    config = example_with_web(tmp_path / "config", BASE)
    key_file = tmp_path / "config" / "ack.key"
    if key is None:
        key_file.unlink()
    else:
        key_file.write_text(key)
    checked = alertd(config, "check")
    assert checked.returncode == 1
    assert said in checked.stderr and str(key_file) in checked.stderr
    assert key is None or key not in checked.stderr


def test_history_says_when_an_unanswered_warning_is_due_for_escalation(world: World) -> None:
    rows = [json.loads(line) for line in alertd(world.config, "history", "--json").stdout.splitlines()]
    waiting = [r for r in rows if r["state"] == "sent" and r["reference"] and not r["responses"]]
    imminent = [r for r in waiting if r["severity"] == "imminent"]
    assert imminent  # the example's C2 addresses, with no escalation settings: imminent after 4 hours
    for row in imminent:
        assert datetime.fromisoformat(row["escalation_due"]) == datetime.fromisoformat(row["when"]) + timedelta(hours=4)
    assert all(r["escalation_due"] is None for r in rows if r not in imminent)  # answered, or not escalated
    text = alertd(world.config, "history").stdout
    assert f"; no response, escalation due at {imminent[0]['escalation_due'][:19]}" in text


@pytest.mark.parametrize(
    "lines",
    [
        ["10.66.66.66", "198.51.100.7"],  # the client's own line, then the one the proxy adds (HAProxy)
        ["10.66.66.66, 198.51.100.7"],  # one line the proxy extended (nginx)
    ],
)
def test_the_source_behind_a_trusted_proxy_is_the_one_the_proxy_saw(world: World, lines: list[str]) -> None:
    web = AckWeb(
        replace(world.web.web, listen="127.0.0.1:0", trusted_proxies=("127.0.0.1/32",)),
        world.book,
        lambda: world.prepared,
    )
    web.start()
    try:
        _reference, url = warning(world)
        body = urlencode({"form": world.form(url), "response": "seen"}).encode()
        parts = urlsplit(web.url)
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=10)
        conn.putrequest("POST", urlsplit(url).path)
        for name, value in [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
            ("Origin", ORIGIN),
            *(("X-Forwarded-For", line) for line in lines),
        ]:
            conn.putheader(name, value)
        conn.endheaders(body)
        assert conn.getresponse().status == 200
        conn.close()
        assert world.acks()[-1]["source"] == "198.51.100.7"
    finally:
        web.stop()


def test_half_sent_requests_hold_few_threads_and_a_real_one_is_still_answered(world: World) -> None:
    web = AckWeb(
        replace(world.web.web, listen="127.0.0.1:0"),
        world.book,
        lambda: world.prepared,
        max_connections=4,
        request_deadline=2.0,
    )
    web.start()
    parts = urlsplit(web.url)
    address = (str(parts.hostname), int(parts.port or 0))
    held: list[socket.socket] = []
    try:
        before = threading.active_count()
        for _ in range(40):  # a slow client's requests, their headers never finished
            s = socket.create_connection(address, timeout=10)
            s.sendall(b"POST /reponse/x HTTP/1.1\r\nHost: alertes")
            held.append(s)
        assert threading.active_count() <= before + 4
        _reference, url = warning(world)
        answered = None
        for _ in range(100):  # the half-sent ones are cut at their deadline, freeing the slots
            conn = http.client.HTTPConnection(*address, timeout=10)
            try:
                conn.request("GET", urlsplit(url).path)
                answered = conn.getresponse().status
            except (ConnectionError, http.client.RemoteDisconnected):
                pass
            finally:
                conn.close()
            if answered == 200:
                break
            threading.Event().wait(0.1)
        assert answered == 200
        assert threading.active_count() <= before + 4
        # A body promised on a bad link is not waited for: refused at once, before the deadline.
        bad = socket.create_connection(address, timeout=10)
        bad.sendall(
            b"POST /reponse/garbage HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 16000\r\nOrigin: " + ORIGIN.encode() + b"\r\n\r\n"
        )
        bad.settimeout(1.5)  # under the deadline: the answer comes before it, the body never sent
        assert bad.recv(64).split(b"\r\n")[0].endswith(b" 403 Forbidden")
        bad.close()
    finally:
        for s in held:
            s.close()
        web.stop()
