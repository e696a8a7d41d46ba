"""The fetch edge against a real HTTP server on 127.0.0.1 and real files."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from builders import make_feed
from http_server import FeedServer, unused_port

from alertd.domain.errors import FetchError
from alertd.domain.feeds import FeedConfig, Validators
from alertd.intake.fetch import Fetcher, FetchResult, default_user_agent, redact_url

MB = 1024 * 1024
CSV = b"ip\n192.0.2.1\n198.51.100.7\n"


def feed(url: str, *, max_bytes: int = 4 * MB, timeout: float = 10.0) -> FeedConfig:
    return make_feed(
        "t", columns={"ip": "ip"}, url=url, interval=timedelta(minutes=1), max_bytes=max_bytes, timeout=timeout
    )


def fetch(
    url: str,
    validators: Validators | None = None,
    *,
    max_bytes: int = 4 * MB,
    timeout: float = 10.0,
    ca_file: Path | None = None,
) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(ca_file=ca_file, trust_env=False) as fetcher:
            return await fetcher.fetch(feed(url, max_bytes=max_bytes, timeout=timeout), validators or Validators())

    return asyncio.run(run())


def fetch_error(url: str, *, max_bytes: int = 4 * MB, timeout: float = 10.0) -> str:
    with pytest.raises(FetchError) as info:
        fetch(url, max_bytes=max_bytes, timeout=timeout)
    return str(info.value)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


# -- HTTP ----------------------------------------------------------------------------------------------------


def test_200_returns_body_validators_and_sends_our_headers(server: FeedServer) -> None:
    server.route("/feed.csv", CSV, etag='"v1"', last_modified="Tue, 01 Jul 2025 10:00:00 GMT")
    result = fetch(server.url("/feed.csv"))
    assert result.body == CSV
    assert not result.not_modified
    assert result.status == 200
    assert result.url == server.url("/feed.csv")
    assert result.validators == Validators('"v1"', "Tue, 01 Jul 2025 10:00:00 GMT")
    assert result.elapsed >= 0
    sent = server.requests("/feed.csv")[0].headers
    assert sent["User-Agent"] == default_user_agent()
    assert sent["Accept-Encoding"] == "gzip, deflate"
    assert "If-None-Match" not in sent


def test_etag_round_trip_gives_not_modified_without_body(server: FeedServer) -> None:
    server.route("/feed.csv", CSV, etag='"v1"')

    async def twice() -> tuple[FetchResult, FetchResult]:
        async with Fetcher(trust_env=False) as fetcher:
            first = await fetcher.fetch(feed(server.url("/feed.csv")), Validators())
            second = await fetcher.fetch(feed(server.url("/feed.csv")), first.validators)
            return first, second

    first, second = asyncio.run(twice())
    assert first.body == CSV
    assert second.not_modified
    assert second.status == 304
    assert second.body == b""
    assert second.validators == first.validators
    assert server.requests("/feed.csv")[1].headers["If-None-Match"] == '"v1"'


def test_changed_etag_gets_the_new_body(server: FeedServer) -> None:
    server.route("/feed.csv", b"ip\n192.0.2.9\n", etag='"v2"')
    result = fetch(server.url("/feed.csv"), Validators('"v1"', None))
    assert not result.not_modified
    assert result.body == b"ip\n192.0.2.9\n"
    assert result.validators.etag == '"v2"'


def test_last_modified_round_trip(server: FeedServer) -> None:
    stamp = "Tue, 01 Jul 2025 10:00:00 GMT"
    server.route("/feed.csv", CSV, last_modified=stamp)
    first = fetch(server.url("/feed.csv"))
    assert first.validators == Validators(None, stamp)
    second = fetch(server.url("/feed.csv"), first.validators)
    assert second.not_modified
    assert second.validators == Validators(None, stamp)
    sent = server.requests("/feed.csv")[1].headers
    assert sent["If-Modified-Since"] == stamp
    assert "If-None-Match" not in sent


def test_gzip_body_is_decoded(server: FeedServer) -> None:
    server.route("/feed.csv", CSV * 100, gzip=True)
    assert fetch(server.url("/feed.csv")).body == CSV * 100


def test_announced_content_length_over_the_cap_is_refused_early(server: FeedServer) -> None:
    server.stream("/huge", 64 * 1024, claimed_length=10 * 1024 * MB)
    message = fetch_error(server.url("/huge"), max_bytes=MB)
    assert "max_bytes" in message
    assert server.url("/huge") in message


def test_streamed_body_over_the_cap_is_cut(server: FeedServer) -> None:
    server.stream("/endless", 5 * MB)
    message = fetch_error(server.url("/endless"), max_bytes=MB)
    assert "larger than max_bytes 1048576" in message


def test_cap_counts_decoded_bytes(server: FeedServer) -> None:
    server.route("/bomb", b"\0" * (5 * MB), gzip=True)  # about 5 KB on the wire
    assert "larger than max_bytes" in fetch_error(server.url("/bomb"), max_bytes=MB)


def test_trickling_server_hits_the_total_deadline(server: FeedServer) -> None:
    server.trickle("/slow")
    start = time.monotonic()
    message = fetch_error(server.url("/slow"), timeout=2.0)
    assert time.monotonic() - start < 3.5
    assert "timed out after 2s" in message


@pytest.mark.parametrize(("status", "reason"), [(500, "Internal Server Error"), (404, "Not Found")])
def test_error_status_is_a_fetch_error(server: FeedServer, status: int, reason: str) -> None:
    server.route("/feed.csv", b"oops", status=status)
    assert f"HTTP {status} {reason}" in fetch_error(server.url("/feed.csv"))


def test_redirect_is_followed(server: FeedServer) -> None:
    server.route("/new.csv", CSV)
    server.redirect("/old.csv", "/new.csv", status=301)
    result = fetch(server.url("/old.csv"))
    assert result.body == CSV
    assert result.url == server.url("/new.csv")
    assert server.count("/old.csv") == 1
    assert server.count("/new.csv") == 1


def test_redirect_loop_is_a_fetch_error(server: FeedServer) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    assert "too many redirects" in fetch_error(server.url("/a"))
    assert server.count("/a") + server.count("/b") == 6


def test_connection_refused_is_a_fetch_error() -> None:
    url = f"http://127.0.0.1:{unused_port()}/feed.csv"
    message = fetch_error(url)
    assert message.startswith(f"{url}: cannot connect")


def test_credentials_never_appear_in_messages(server: FeedServer) -> None:
    server.route("/private.csv", b"no", status=403)
    url = server.url("/private.csv").replace("://", "://reader:s3cret@") + "?apikey=t0ken&x=1"
    message = fetch_error(url)
    assert "HTTP 403 Forbidden" in message
    assert "s3cret" not in message
    assert "t0ken" not in message
    assert server.requests("/private.csv")[0].headers["Authorization"].startswith("Basic ")


def test_redact_url() -> None:
    assert redact_url("https://u:p@host.example:8443/a?token=abc&q=1") == "https://host.example:8443/a?token=***&q=1"
    assert redact_url("https://host.example/feed") == "https://host.example/feed"


def test_unsupported_scheme_is_a_fetch_error() -> None:
    assert "unsupported URL scheme" in fetch_error("ftp://127.0.0.1/feed.csv")


def test_served_directory_honours_validators(server: FeedServer, tmp_path: Path) -> None:
    (tmp_path / "feed.csv").write_bytes(CSV)
    server.serve_dir("/samples", tmp_path)
    first = fetch(server.url("/samples/feed.csv"))
    assert first.body == CSV
    assert first.validators.etag and first.validators.last_modified
    assert fetch(server.url("/samples/feed.csv"), first.validators).not_modified
    assert "HTTP 404" in fetch_error(server.url("/samples/../test_fetch.py"))


def test_https_with_a_private_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FeedServer(ssl_context=context) as server:
        server.route("/feed.csv", CSV)
        url = server.url("/feed.csv")
        assert url.startswith("https://")
        assert fetch(url, ca_file=ca_file).body == CSV
        assert "certificate" in fetch_error(url).lower()


# -- file:// -------------------------------------------------------------------------------------------------


def test_file_is_read_and_unchanged_file_is_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(CSV)
    first = fetch(f"file://{path}")
    assert first.body == CSV
    assert first.status == 0
    st = path.stat()
    assert first.validators.etag == f'"{st.st_mtime_ns}-{st.st_size}"'
    second = fetch(f"file://{path}", first.validators)
    assert second.not_modified
    assert second.body == b""
    path.write_bytes(CSV + b"203.0.113.5\n")
    third = fetch(f"file://{path}", first.validators)
    assert not third.not_modified
    assert third.body.endswith(b"203.0.113.5\n")


def test_missing_file_is_a_fetch_error(tmp_path: Path) -> None:
    assert "no such file" in fetch_error(f"file://{tmp_path / 'absent.csv'}")


def test_file_over_the_cap_is_a_fetch_error(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 2048)
    assert "more than max_bytes 1024" in fetch_error(f"file://{path}", max_bytes=1024)


def test_percent_encoded_file_url(tmp_path: Path) -> None:
    path = tmp_path / "a feed.csv"
    path.write_bytes(CSV)
    os.utime(path)
    assert fetch(f"file://{tmp_path}/a%20feed.csv").body == CSV
