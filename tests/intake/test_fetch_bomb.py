"""Decompression bombs against the fetch edge: a real HTTP server on 127.0.0.1 serving hand-made compressed bodies.

Issue #13: ``Content-Encoding: gzip, gzip`` on a 13 KB body inflated past 7 GB before the size cap was checked.
The fetcher now inflates in bounded steps against ``max_bytes`` and refuses stacked encodings.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from builders import make_feed
from http_server import FeedServer
from paths import DATA

from alertd.domain.errors import FetchError
from alertd.domain.feeds import FeedConfig, FeedFormat, Validators
from alertd.intake.fetch import Fetcher, FetchResult
from alertd.intake.formats import epss

MB = 1024 * 1024
GIB = 1024 * MB
EPSS_SAMPLE = DATA / "epss" / "epss_scores_excerpt.csv"


@functools.cache
def gzip_file_of_zeros() -> bytes:
    """A 4 MB gzip file (64 members of 64 MiB of zeros) that unpacks to 4 GiB."""
    member = gzip.compress(b"\0" * (64 * MB), 9, mtime=0)
    return member * 64


@functools.cache
def double_gzip_bomb() -> bytes:
    """About 9 KB on the wire; gzip-decoded twice, 4 GiB."""
    return gzip.compress(gzip_file_of_zeros(), 9, mtime=0)


def feed(url: str, max_bytes: int, fmt: FeedFormat = FeedFormat.CSV) -> FeedConfig:
    return make_feed("t", fmt=fmt, columns={"ip": "ip"}, url=url, interval=timedelta(minutes=1), max_bytes=max_bytes)


def fetch(url: str, max_bytes: int = 4 * MB) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(trust_env=False) as fetcher:
            return await fetcher.fetch(feed(url, max_bytes), Validators())

    return asyncio.run(run())


def fetch_error(url: str, max_bytes: int = 4 * MB) -> str:
    with pytest.raises(FetchError) as info:
        fetch(url, max_bytes)
    return str(info.value)


def peak_memory(action: Callable[[], object]) -> int:
    """The peak of Python (and zlib) allocations while ``action`` runs, in bytes."""
    tracemalloc.start()
    try:
        action()
    except FetchError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def serve(server: FeedServer, path: str, body: bytes, encoding: str) -> str:
    """Serve ``body`` as it is (already encoded) with ``Content-Encoding: encoding``."""
    server.route(path, body, headers={"Content-Encoding": encoding})
    return server.url(path)


# -- stacked and unknown encodings ---------------------------------------------------------------------------


def test_double_gzip_bomb_is_refused_without_inflating(server: FeedServer) -> None:
    body = double_gzip_bomb()
    assert len(body) < 16 * 1024
    url = serve(server, "/bomb.csv", body, "gzip, gzip")
    message = fetch_error(url)
    assert "stacks content encodings (gzip, gzip)" in message
    assert url in message
    assert peak_memory(lambda: fetch(url)) < 16 * MB


@pytest.mark.parametrize("encoding", ["gzip,deflate", "deflate, gzip", "gzip, identity, gzip"])
def test_any_stack_of_two_codings_is_refused(server: FeedServer, encoding: str) -> None:
    url = serve(server, "/stack.csv", gzip.compress(b"ip\n192.0.2.1\n"), encoding)
    assert "stacks content encodings" in fetch_error(url)


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd"])
def test_unknown_coding_is_refused(server: FeedServer, encoding: str) -> None:
    url = serve(server, "/odd.csv", b"\x00\x01\x02", encoding)
    assert f"unsupported Content-Encoding '{encoding}'" in fetch_error(url)


# -- the running cap -----------------------------------------------------------------------------------------


def test_gzip_file_inside_gzip_encoding_is_capped_across_layers(server: FeedServer) -> None:
    # One declared coding (allowed) over a .gz file (unpacked like EPSS's): the cap holds on the second layer.
    url = serve(server, "/nested.csv.gz", double_gzip_bomb(), "gzip")
    message = fetch_error(url, max_bytes=8 * MB)
    assert "larger than max_bytes 8388608 (unpacked)" in message
    assert peak_memory(lambda: fetch(url, max_bytes=8 * MB)) < 64 * MB


def test_single_gzip_bomb_stops_at_the_cap(server: FeedServer) -> None:
    url = serve(server, "/zeros.csv", gzip_file_of_zeros()[: len(gzip_file_of_zeros()) // 64], "gzip")  # 64 MiB
    assert "larger than max_bytes 1048576 (decompressed)" in fetch_error(url, max_bytes=MB)
    assert peak_memory(lambda: fetch(url, max_bytes=MB)) < 8 * MB


def test_single_gzip_within_the_cap_is_read(server: FeedServer) -> None:
    content = b"ip\n" + b"192.0.2.1\n" * (MB // 10)
    url = serve(server, "/ok.csv", gzip.compress(content), "gzip")
    assert fetch(url, max_bytes=2 * MB).body == content


def test_single_gzip_at_the_cap_is_read_and_one_byte_over_fails(server: FeedServer) -> None:
    content = b"x" * MB
    url = serve(server, "/exact.csv", gzip.compress(content), "gzip")
    assert fetch(url, max_bytes=MB).body == content
    url = serve(server, "/over.csv", gzip.compress(content + b"x"), "gzip")
    assert "larger than max_bytes 1048576" in fetch_error(url, max_bytes=MB)


def test_truncated_gzip_fails(server: FeedServer) -> None:
    url = serve(server, "/cut.csv", gzip.compress(b"ip\n" + b"192.0.2.1\n" * 1000)[:-20], "gzip")
    assert "truncated" in fetch_error(url)


def test_corrupt_gzip_fails(server: FeedServer) -> None:
    url = serve(server, "/corrupt.csv", b"\x1f\x8b\x08\x00" + b"\xff" * 64, "gzip")
    assert "gzip data is corrupt" in fetch_error(url)


# -- the codings that work -----------------------------------------------------------------------------------


CONTENT = b"ip\n192.0.2.1\n198.51.100.7\n" * 500


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("deflate", zlib.compress),  # RFC 9110: zlib-wrapped
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda data: data),
        ("", lambda data: data),
        ("GZIP", gzip.compress),
        ("x-gzip", gzip.compress),
    ],
    ids=["deflate-zlib", "deflate-raw", "identity", "empty", "gzip-uppercase", "x-gzip"],
)
def test_supported_codings_are_decoded(server: FeedServer, encoding: str, encode: Callable[[bytes], bytes]) -> None:
    url = serve(server, "/feed.csv", encode(CONTENT), encoding)
    assert fetch(url).body == CONTENT


def test_several_gzip_members_are_all_read(server: FeedServer) -> None:
    url = serve(server, "/members.csv", gzip.compress(CONTENT) + gzip.compress(CONTENT), "gzip")
    assert fetch(url).body == CONTENT * 2


# -- .gz files (EPSS) ----------------------------------------------------------------------------------------


def test_epss_gz_file_over_http_reads_as_before(server: FeedServer) -> None:
    plain = EPSS_SAMPLE.read_bytes()
    server.route("/epss_scores-current.csv.gz", gzip.compress(plain), headers={"Content-Type": "application/gzip"})
    result = fetch(server.url("/epss_scores-current.csv.gz"))
    assert result.body == plain
    spec = feed("x", 4 * MB, FeedFormat.EPSS_CSV).spec
    assert epss.parse(spec, result.body) == epss.parse(spec, plain)


def test_gz_bomb_served_as_a_file_is_capped(server: FeedServer) -> None:
    server.route("/bomb.csv.gz", gzip_file_of_zeros(), headers={"Content-Type": "application/gzip"})
    assert "larger than max_bytes 8388608 (unpacked)" in fetch_error(server.url("/bomb.csv.gz"), 8 * MB)


def test_gz_file_on_disk_is_unpacked_under_the_cap(tmp_path: Path) -> None:
    plain = EPSS_SAMPLE.read_bytes()
    good = tmp_path / "epss.csv.gz"
    good.write_bytes(gzip.compress(plain))
    assert fetch(f"file://{good}").body == plain
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip_file_of_zeros())
    assert "larger than max_bytes 8388608 (unpacked)" in fetch_error(f"file://{bomb}", 8 * MB)
