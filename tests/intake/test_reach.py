"""Reach (issue #13 point 6, contract §3): where a fetch may go, and what of a server's answer is repeated.

On a real loopback server: redirects are followed hop by hop, each target http(s) and off non-global addresses
unless the feed's own url is there; the documents an index lists come from its origin or the feed's
``allow_hosts``; the address actually connected to is checked (DNS rebinding); and a server's body, or a URL it
chose, never reaches the store, ``/healthz``, the logs or the operators' notice.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from builders import make_feed
from configs import ESTABLISHMENTS, MAILDIR_SETTINGS, SUBSCRIPTIONS, alertd
from http_server import FeedServer
from paths import DATA

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError, FetchError
from alertd.domain.feeds import FeedConfig, FeedFormat, Validators
from alertd.domain.values import FeedKind
from alertd.intake import reach
from alertd.intake.fetch import Fetcher
from alertd.service.httpapi import HealthSnapshot
from alertd.service.poll import Documents, read_documents
from alertd.store.sqlite import Store

CSAF = DATA / "csaf"
MARKER = "ZZMARKER4417"


def feed_at(url: str, fmt: FeedFormat = FeedFormat.CSV, **changes: object) -> FeedConfig:
    feed = make_feed("reach", fmt, FeedKind.VULNERABILITY if fmt is FeedFormat.CSAF else FeedKind.COMPROMISE)
    return replace(feed, url=url, timeout=20.0, **changes)  # type: ignore[arg-type]


def fetch(url: str, *, inside: bool | None = None) -> bytes:
    async def run() -> bytes:
        async with Fetcher(trust_env=False) as fetcher:
            return (await fetcher.fetch(feed_at(url), Validators(None, None), inside=inside)).body

    return asyncio.run(run())


def fetch_error(url: str, *, inside: bool | None = None) -> str:
    with pytest.raises(FetchError) as caught:
        fetch(url, inside=inside)
    return str(caught.value)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


@pytest.fixture
def global_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the feed's own url for a global one: on loopback it cannot be, and the rules for redirects out of a
    global feed are what is tested."""

    async def outside(self: Fetcher, url: str) -> bool:
        return False

    monkeypatch.setattr(Fetcher, "_inside", outside)


# -- addresses and redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "inside"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # the cloud metadata service
        ("100.64.0.1", True),  # shared address space (CGNAT)
        ("::1", True),
        ("fe80::1", True),
        ("fd00::1", True),  # unique-local
        ("::ffff:127.0.0.1", True),  # loopback written as IPv6
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_non_global_addresses(text: str, inside: bool) -> None:
    addr = reach.address(text)
    assert addr is not None and reach.is_inside(addr) is inside


def test_a_loopback_feed_may_redirect_on_loopback(server: FeedServer) -> None:
    server.route("/new.csv", b"ip\n192.0.2.1\n")
    server.redirect("/old.csv", server.url("/new.csv"))
    assert fetch(server.url("/old.csv")) == b"ip\n192.0.2.1\n"


@pytest.mark.usefixtures("global_feed")
@pytest.mark.parametrize("target", ["/inner.csv", "http://10.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/"])
def test_a_global_feed_is_not_redirected_inside(server: FeedServer, target: str) -> None:
    server.route("/inner.csv", b"ip\n192.0.2.1\n")
    server.redirect("/feed.csv", server.url(target) if target.startswith("/") else target)
    message = fetch_error(server.url("/feed.csv"))
    assert "refused" in message and "non-global address" in message
    assert server.count("/inner.csv") == 0  # refused before connecting


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/feed.csv", "gopher://127.0.0.1:25/x"])
def test_redirects_stay_on_http(server: FeedServer, target: str) -> None:
    server.redirect("/feed.csv", target)
    assert "another scheme than http or https" in fetch_error(server.url("/feed.csv"))


def test_redirect_hops_are_bounded(server: FeedServer) -> None:
    for hop in range(8):
        server.redirect(f"/{hop}", f"/{hop + 1}")
    server.route("/8", b"ip\n192.0.2.1\n")
    assert "too many redirects" in fetch_error(server.url("/0"))
    assert server.count("/6") == 0


def test_a_document_is_not_fetched_inside_for_a_global_index(server: FeedServer) -> None:
    server.route("/doc.json", b"{}")
    assert "non-global address" in fetch_error(server.url("/doc.json"), inside=False)
    assert server.count("/doc.json") == 0


def test_the_address_connected_to_is_checked(server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding: the name resolves to a global address when checked, and the connection lands inside.
    async def global_answer(host: str, port: int) -> list[reach.Address]:
        return [reach.address("8.8.8.8")]  # type: ignore[list-item]

    monkeypatch.setattr(reach, "resolve", global_answer)
    server.route("/doc.json", MARKER.encode())
    message = fetch_error(server.url("/doc.json"), inside=False)
    assert "non-global address (127.0.0.1)" in message and MARKER not in message


# -- the index's origin -------------------------------------------------------------------------------------


def rolie(urls: list[str]) -> bytes:
    entries = [
        {"id": str(i), "updated": f"2024-07-{10 + i:02d}T00:00:00Z", "content": {"src": u}} for i, u in enumerate(urls)
    ]
    return json.dumps({"feed": {"id": "test", "entry": entries}}).encode()


def read_index(feed: FeedConfig) -> Documents:
    async def run() -> Documents:
        async with Fetcher(trust_env=False) as fetcher:
            result = await fetcher.fetch(feed, Validators(None, None))
            return await read_documents(feed, fetcher, result)

    return asyncio.run(run())


def test_index_documents_come_from_its_origin_unless_allowed(tmp_path: Path) -> None:
    with FeedServer() as index, FeedServer() as other:
        index.serve_dir("/csaf/", CSAF)
        other.serve_dir("/csaf/", CSAF)
        own = index.url("/csaf/icsma-24-200-01.json")
        elsewhere = other.url("/csaf/icsma-24-254-01.json")
        index.route("/rolie.json", rolie([own, elsewhere]))
        feed = feed_at(index.url("/rolie.json"), FeedFormat.CSAF)

        read = read_index(feed)
        assert read.read == [own] and read.refused == [elsewhere]
        assert other.count("/csaf/icsma-24-254-01.json") == 0  # named, never fetched
        assert read.observations

        allowed = read_index(replace(feed, allow_hosts=(f"127.0.0.1:{other.port}",)))
        assert sorted(allowed.read) == sorted([own, elsewhere]) and not allowed.refused
        assert other.count("/csaf/icsma-24-254-01.json") == 1

        # Another port of the same host is another origin.
        assert read_index(replace(feed, allow_hosts=("127.0.0.1",))).refused == [elsewhere]


def test_an_index_of_nothing_but_foreign_documents_fails(tmp_path: Path) -> None:
    with FeedServer() as index:
        index.route("/rolie.json", rolie(["http://203.0.113.9/csaf/a.json", "http://cdn.example/b.json"]))
        feed = feed_at(index.url("/rolie.json"), FeedFormat.CSAF)
        with pytest.raises(Exception, match="off the index's origin"):
            read_index(feed)


@pytest.mark.parametrize(
    ("entry", "url", "allowed"),
    [
        ("cert.example.org", "https://cert.example.org/a.json", True),
        ("cert.example.org", "https://cert.example.org:8443/a.json", False),
        ("cert.example.org:8443", "https://cert.example.org:8443/a.json", True),
        ("*.example.org", "https://docs.example.org/a.json", True),
        ("*.example.org", "https://example.org.evil.test/a.json", False),
        ("*.example.org", "https://evilexample.org/a.json", False),
        ("[2001:db8::1]", "https://[2001:db8::1]/a.json", True),
    ],
)
def test_allow_hosts_entries(entry: str, url: str, allowed: bool) -> None:
    assert reach.valid_allowed_host(entry)
    assert reach.document_allowed(url, ["https://index.example.net/rolie.json"], [entry]) is allowed


def test_allow_hosts_is_validated(tmp_path: Path) -> None:
    (tmp_path / "establishments.yaml").write_text(ESTABLISHMENTS)
    (tmp_path / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n"
        "  - id: csaf\n"
        "    url: https://csaf.example.org/rolie.json\n"
        "    format: csaf\n"
        "    interval: 1h\n"
        "    deadline: 20m\n"
        "    allow_hosts: [docs.example.org, 'bad host/x']\n"
    )
    config = tmp_path / "alertd.yaml"
    config.write_text(
        "state_dir: state\nfeeds: feeds.yaml\nregistry: establishments.yaml\nsubscriptions: subscriptions.yaml\n"
        'sender: {from: "CERT <a@cert.example>"}\ndelivery: {method: maildir, maildir: maildir}\n'
    )
    with pytest.raises(ConfigError, match=r"feeds.yaml:7:\d+: allow_hosts entry 'bad host/x' is not a host"):
        load_config(config)
    (tmp_path / "feeds.yaml").write_text((tmp_path / "feeds.yaml").read_text().replace(", 'bad host/x'", ""))
    feed = load_config(config).feeds[0]
    assert feed.allow_hosts == ("docs.example.org",) and feed.deadline == timedelta(minutes=20)


# -- what is repeated of a server's answer ------------------------------------------------------------------


def test_error_texts_are_our_words() -> None:
    assert reach.status_line(500, "Internal Server Error") == "HTTP 500 Internal Server Error"
    line = reach.status_line(500, f"Oops\x1b[31m {MARKER}{'x' * 90}")
    assert line.startswith("HTTP 500 Oops 31m ") and len(line) == len("HTTP 500 ") + reach.MAX_REASON
    assert reach.public_text("a\u202eb\u200bc\nd" + "e" * 2000).startswith("a b c d")
    assert len(reach.public_text("e" * 5000)) == reach.MAX_ERROR


def test_no_body_and_no_chosen_url_reach_store_logs_healthz_or_notice(tmp_path: Path) -> None:
    body = f"<html><body><h1>{MARKER}</h1><a href='https://evil.example/{MARKER}'>{MARKER}</a></body></html>"
    with FeedServer() as server:
        server.route(f"/{MARKER}/broken.xml", body.encode(), status=500)
        server.redirect("/feed.xml", server.url(f"/{MARKER}/broken.xml?token={MARKER}"))
        server.route(f"/{MARKER}/page.xml", body.encode(), headers={"Content-Type": "text/html"})
        server.redirect("/page.xml", server.url(f"/{MARKER}/page.xml"))
        server.route("/misp/manifest.json", json.dumps({"d177856e-6e46-44ee-8eb5-83ef1c7452c7": {}}).encode())
        server.route("/misp/d177856e-6e46-44ee-8eb5-83ef1c7452c7.json", body.encode(), status=502)
        (tmp_path / "establishments.yaml").write_text(ESTABLISHMENTS)
        (tmp_path / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
        (tmp_path / "feeds.yaml").write_text(
            "feeds:\n"
            f"  - {{id: err500, url: '{server.url('/feed.xml')}', format: rss, interval: 1h, failures_alert: 1}}\n"
            f"  - {{id: page, url: '{server.url('/page.xml')}', format: rss, interval: 1h, failures_alert: 1}}\n"
            f"  - {{id: misp, url: '{server.url('/misp/manifest.json')}', format: misp, interval: 1h, "
            "failures_alert: 1}\n"
        )
        config = tmp_path / "alertd.yaml"
        config.write_text(MAILDIR_SETTINGS)
        result = alertd(config, "run", "--once", log_level="debug")
    assert server.count(f"/{MARKER}/broken.xml") == 1  # the redirect was followed, and its answer refused
    store = Store.in_state_dir(tmp_path / "state")
    states = {s.feed: s for s in store.feed_states()}
    assert set(states) == {"err500", "page", "misp"}
    assert "HTTP 500 Internal Server Error" in (states["err500"].last_error or "")
    assert "an HTML page" in (states["page"].last_error or "")
    assert "HTTP 502 Bad Gateway" in (states["misp"].last_error or "")
    snapshot = HealthSnapshot()
    snapshot.update(store.feed_states(), {})
    notices = [p.read_bytes() for p in (tmp_path / "maildir").rglob("*") if p.is_file()]
    assert notices, result.stdout + result.stderr  # the operators were told of the failing feeds
    dumped = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file())
    for where, text in [
        ("stdout", result.stdout),
        ("logs", result.stderr),
        ("healthz", json.dumps(snapshot(), default=str)),
        ("notice", b"".join(notices).decode("utf-8", "replace")),
        ("store", dumped.decode("utf-8", "replace")),
    ]:
        assert MARKER not in text, where
        assert "evil.example" not in text, where


def test_the_daemons_own_feeds_still_pass_on_loopback(tmp_path: Path) -> None:
    # make run and the tests serve every feed on loopback: redirects and documents there are still followed.
    provider = tmp_path / "csaf"
    (provider / "2024").mkdir(parents=True)
    shutil.copy(CSAF / "icsma-24-200-01.json", provider / "2024")
    (provider / "index.txt").write_text("2024/icsma-24-200-01.json\n")
    with FeedServer() as server:
        server.serve_dir("/csaf/", provider)
        server.redirect("/index.txt", server.url("/csaf/index.txt"))
        read = read_index(feed_at(server.url("/index.txt"), FeedFormat.CSAF))
    assert read.read == [server.url("/csaf/2024/icsma-24-200-01.json")] and read.observations
