"""A feed's ``max_entries`` (issue #13: findings per poll bounded): each parser stops building entries at the cap,
says it cut (``Entries.cut``), and reads a streamed list no further than it needs.

Real documents: ransomware.live's posts.json of 2023-06-04 (6,574 posts), its allcyberattacks, Feodo Tracker's
blocklist, CISA's KEV catalog, an NVD API page, CERT-FR's RSS feed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.errors import ParseError
from alertd.domain.feeds import DEFAULT_MAX_ENTRIES, FeedFormat, FeedSpec
from alertd.intake.formats import Parser, csvfeed, kev, leaks, nvd, parse_feed, press
from alertd.intake.formats.entries import Entries

POSTS = DATA / "leaks" / "ransomware-live_posts_2023-06-04.json"
PRESS = DATA / "press" / "ransomware-live_allcyberattacks_2024-06.json"
FEODO = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
KEV = DATA / "kev" / "kev_2026-08-07.json"
NVD = DATA / "nvd" / "nvd-api-2.0_cves_page_2023-10-18.json"
FEODO_COLUMNS = {"first_seen": "first_seen_utc", "ip": "dst_ip", "port": "dst_port", "malware": "malware"}


def capped(fmt: FeedFormat, max_entries: int, columns: dict[str, str] | None = None) -> FeedSpec:
    return dataclasses.replace(make_feed_spec("capped", fmt, columns=columns), max_entries=max_entries)


def test_the_default_bounds_every_format() -> None:
    assert make_feed_spec("x", FeedFormat.LEAK_VICTIMS).max_entries == DEFAULT_MAX_ENTRIES == 200_000


def test_leak_posts_stop_at_the_cap_in_the_documents_order() -> None:
    whole = leaks.parse(make_feed_spec("capped", FeedFormat.LEAK_VICTIMS), POSTS.read_bytes())
    assert isinstance(whole, Entries) and not whole.cut and len(whole) > 6000
    cut = leaks.parse(capped(FeedFormat.LEAK_VICTIMS, 2000), POSTS.read_bytes())
    assert cut.cut and len(cut) == 2000
    assert list(cut) == whole[:2000]
    # The real Centre Hospitalier d'Arles post (the 1,780th) is among what was read.
    assert any(o.title == "Centre Hospitalier D'Arles" for o in cut)


def test_a_cap_the_list_just_fits_is_no_cut() -> None:
    count = len(leaks.parse(make_feed_spec("capped", FeedFormat.LEAK_VICTIMS), POSTS.read_bytes()))
    exact = leaks.parse(capped(FeedFormat.LEAK_VICTIMS, count), POSTS.read_bytes())
    assert len(exact) == count and not exact.cut


def test_a_streamed_list_is_read_no_further_than_the_cap() -> None:
    """Past the cap, not even the JSON is read: a document broken after it still yields the entries before it."""
    posts = json.loads(POSTS.read_bytes())[:50]
    body = json.dumps(posts).encode()[:-1] + b', {"post_title": "broken'  # cut off in the 51st post
    with pytest.raises(ParseError, match="not valid JSON"):
        leaks.parse(make_feed_spec("capped", FeedFormat.LEAK_VICTIMS), body)
    read = leaks.parse(capped(FeedFormat.LEAK_VICTIMS, 10), body)
    assert read.cut and len(read) == 10


def test_a_million_posts_are_not_all_built() -> None:
    posts = [{"post_title": f"Victim {i:07d} SA", "group_name": "lockbit3"} for i in range(300_000)]
    body = json.dumps(posts, separators=(",", ":")).encode()
    started = time.process_time()
    read = leaks.parse(capped(FeedFormat.LEAK_VICTIMS, 1000), body)
    assert read.cut and len(read) == 1000
    # Not a timing test: reading 1,000 posts of 300,000 costs a fraction of reading them all.
    assert time.process_time() - started < 5.0


def test_press_reports_stop_at_the_cap() -> None:
    whole = press.parse(make_feed_spec("capped", FeedFormat.PRESS_REPORTS), PRESS.read_bytes())
    cut = press.parse(capped(FeedFormat.PRESS_REPORTS, 100), PRESS.read_bytes())
    assert cut.cut and list(cut) == whole[:100] and not whole.cut


def test_csv_rows_stop_at_the_cap() -> None:
    whole = csvfeed.parse(make_feed_spec("capped", FeedFormat.CSV, columns=FEODO_COLUMNS), FEODO.read_bytes())
    cut = csvfeed.parse(capped(FeedFormat.CSV, 5, FEODO_COLUMNS), FEODO.read_bytes())
    assert isinstance(cut, Entries) and cut.cut and list(cut) == whole[:5] and not whole.cut


@pytest.mark.parametrize(
    ("fmt", "parse", "path"),
    [(FeedFormat.CISA_KEV, kev.parse, KEV), (FeedFormat.NVD_JSON, nvd.parse, NVD)],
    ids=["kev", "nvd"],
)
def test_json_catalogs_stop_building_at_the_cap(fmt: FeedFormat, parse: Parser, path: Path) -> None:
    whole = parse(make_feed_spec("capped", fmt), path.read_bytes())
    read = parse(capped(fmt, 3), path.read_bytes())
    assert isinstance(read, Entries) and read.cut and list(read) == whole[:3]


def test_every_other_format_is_bounded_after_reading() -> None:
    """RSS (feedparser reads a document whole): parse_feed bounds the result and says it cut."""
    body = (DATA / "rss" / "certfr_alertes_avis.xml").read_bytes()
    whole = parse_feed(make_feed_spec("capped", FeedFormat.RSS), body)
    assert len(whole) > 2 and not whole.cut
    read = parse_feed(capped(FeedFormat.RSS, 2), body)
    assert read.cut and list(read) == whole[:2]


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"]",  # an item nested 100,000 deep
        b'[{"post_title": "x", "n": ' + b"9" * 5000 + b"}]",  # a 5,000-digit number: ijson's C backend crashed
        b'[{"post_title": "x", "n": 1e999}]',
    ],
    ids=["deep-item", "long-number", "huge-float"],
)
def test_hostile_json_is_a_parse_error_not_a_crash(body: bytes) -> None:
    started = time.process_time()
    with pytest.raises(ParseError, match="feed 'capped'"):
        leaks.parse(make_feed_spec("capped", FeedFormat.LEAK_VICTIMS), body)
    assert time.process_time() - started < 5.0


def test_a_yajl_error_names_the_fault_not_the_documents_text() -> None:
    with pytest.raises(ParseError) as caught:
        leaks.parse(make_feed_spec("capped", FeedFormat.LEAK_VICTIMS), b'[{"post_title": "secret-text"')
    assert "secret-text" not in str(caught.value)
