"""Leak-site victim lists: the ransomware.live sample and a ransomwatch-shaped file written for these tests."""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import FORMATS, leaks, parse_feed

DATA = SAMPLES / "leaks"
RANSOMWARE_LIVE = DATA / "ransomware-live_recentvictims_2024-06-16.json"
# Written for these tests in ransomwatch's posts.json shape (upstream's data is under a non-commercial licence).
RANSOMWATCH = DATA / "ransomwatch_posts_sample.json"
FEED = make_feed_spec("leaks", FeedFormat.LEAK_VICTIMS)


def _posts(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        posts: list[dict[str, Any]] = json.load(f)
    return posts


def _by_title(path: Path) -> dict[str, Any]:
    return {o.title: o for o in leaks.parse(FEED, path.read_bytes())}


# --- ransomware.live ---------------------------------------------------------------------------------------


def test_ransomware_live_one_observation_per_post() -> None:
    body = RANSOMWARE_LIVE.read_bytes()
    assert b"\r\n" in body  # the sample keeps its CRLF line endings
    posts = _posts(RANSOMWARE_LIVE)
    assert len(posts) == 100
    observations = leaks.parse(FEED, body)
    assert len(observations) == len({(p["group_name"], p["post_title"].strip()) for p in posts}) == 100
    assert [o.title for o in observations] == [
        " ".join(p["post_title"].replace("<UPDATED>", "").split()) for p in posts
    ]
    assert [o.facts.group for o in observations] == [p["group_name"] for p in posts]
    assert all(o.kind is FeedKind.LEAK and o.feed == "leaks" for o in observations)
    # The country's ISO code is carried beside the country as the post writes it, when it names one.
    assert all(
        set(o.facts.to_json()) - {"country_code"} == {"group", "country", "activity", "discovered"}
        for o in observations
    )
    assert all((o.facts.country_code or "") == o.facts.extra["country"] for o in observations)
    assert sum(1 for o in observations if o.link) == sum(1 for p in posts if p["post_url"])
    assert len({o.entry for o in observations}) == 100


def test_ransomware_live_health_victim() -> None:
    posts = _posts(RANSOMWARE_LIVE)
    post = next(p for p in posts if p["post_title"] == "MRI")
    mri = _by_title(RANSOMWARE_LIVE)["MRI"]
    assert mri.text == "MRI"  # the name only: the scraped description is not scanned
    assert post["description"] not in mri.text
    assert mri.indicators == (Indicator(IndicatorType.DOMAIN, "mri-inc.net"),)
    assert mri.link == post["post_url"]
    assert mri.published == datetime(2024, 6, 15, 16, 42, 19, tzinfo=UTC)
    assert mri.facts.group == "hunters"
    assert mri.facts.extra["country"] == "US"
    assert mri.facts.country_code == "US"
    assert mri.facts.extra["activity"] == "Human health and social work activities"
    assert mri.facts.extra["discovered"] == "2024-06-15 16:47:55.378689"
    key = "hunters\x1fmri"
    assert mri.entry == hashlib.sha256(key.encode()).hexdigest()[:32]


def test_ransomware_live_websites_as_written() -> None:
    by_title = _by_title(RANSOMWARE_LIVE)
    assert by_title["EnviroApplications"].indicators == (  # website "http://https://enviroapplications.com"
        Indicator(IndicatorType.DOMAIN, "enviroapplications.com"),
    )
    assert by_title["Oahu Transit Services"].indicators == (Indicator(IndicatorType.DOMAIN, "thebus.org"),)
    assert by_title["Eurotrol B.V."].indicators == (Indicator(IndicatorType.DOMAIN, "eurotrol.com"),)
    assert by_title["svmasonry.com"].indicators == (
        Indicator(IndicatorType.DOMAIN, "www.svmasonry.com"),  # the website
        Indicator(IndicatorType.DOMAIN, "svmasonry.com"),  # the title, a domain
    )
    assert by_title["sgvfr.com"].indicators == (Indicator(IndicatorType.DOMAIN, "sgvfr.com"),)  # both the same
    assert by_title["NJORALSURGERY.COM"].indicators == (Indicator(IndicatorType.DOMAIN, "njoralsurgery.com"),)
    assert by_title["Production Machine & Enterprises"].indicators == ()
    assert by_title["ab*******.org"].indicators == ()  # a masked name is no domain
    assert by_title["Zuber Gardner CPAs pt.2"].indicators == ()
    assert by_title["Diogenet S.r.l."].indicators == (Indicator(IndicatorType.DOMAIN, "diogenet.it"),)


def test_ransomware_live_title_quirks() -> None:
    posts = _posts(RANSOMWARE_LIVE)
    by_title = _by_title(RANSOMWARE_LIVE)
    assert any(p["post_title"] == "Dynamo Electric " for p in posts)
    assert by_title["Dynamo Electric"].text == "Dynamo Electric"
    assert any(p["post_title"] == "www.clevo.com.tw<UPDATED>" for p in posts)
    clevo = by_title["www.clevo.com.tw"]
    assert clevo.indicators == (Indicator(IndicatorType.DOMAIN, "www.clevo.com.tw"),)
    # "2024-06-11 16:04:15.12345": five fractional digits, no zone.
    assert by_title["Farnell Packaging"].published == datetime(2024, 6, 11, 16, 4, 15, 123450, tzinfo=UTC)


# --- ransomwatch -------------------------------------------------------------------------------------------


def test_ransomwatch_titles_cleaned() -> None:
    posts = _posts(RANSOMWATCH)
    observations = leaks.parse(FEED, RANSOMWATCH.read_bytes())
    # The last post is the first one again, its apostrophe written as an entity: the same entry, kept once.
    assert len(posts) == 8
    assert html.unescape(posts[-1]["post_title"]) == posts[0]["post_title"].strip()
    assert len(observations) == 7
    assert [o.title for o in observations] == [
        "Centre Hospitalier D'Arles",
        "Barnes & Noble Education",
        "hancockassociat...",
        "ghimli.com",
        "Clinique Saint-Jean",
        "pharmacie-du-centre.fr",
        "hancock.co...",
    ]
    assert [o.text for o in observations] == [
        "Centre Hospitalier D'Arles",
        "Barnes & Noble Education",
        "hancockassociat",  # the cut is kept out of matching
        "ghimli.com",
        "Clinique Saint-Jean",
        "pharmacie-du-centre.fr",
        "hancock.co",
    ]
    by_title = {o.title: o for o in observations}
    arles = by_title["Centre Hospitalier D'Arles"]
    assert arles.indicators == ()
    assert arles.link is None
    assert arles.published == datetime(2022, 12, 31, 19, 44, 29, 618765, tzinfo=UTC)  # discovered, as UTC
    assert arles.facts.to_json() == {
        "group": "lockbit3",
        "country": "",
        "activity": "",
        "discovered": posts[0]["discovered"],
    }
    ghimli = by_title["ghimli.com"]
    assert ghimli.indicators == (Indicator(IndicatorType.DOMAIN, "ghimli.com"),)
    assert ghimli.facts.extra["details"] == "$189.1M, Australia, 88GB"
    assert by_title["pharmacie-du-centre.fr"].indicators == (Indicator(IndicatorType.DOMAIN, "pharmacie-du-centre.fr"),)
    assert by_title["hancock.co..."].indicators == ()  # the domain may be cut: hancock.com?
    assert by_title["hancockassociat..."].indicators == ()


def test_same_post_polled_again_is_the_same_entry() -> None:
    first = [o.entry for o in leaks.parse(FEED, RANSOMWATCH.read_bytes())]
    again = [o.entry for o in leaks.parse(FEED, RANSOMWATCH.read_bytes())]
    assert first == again
    respaced = json.dumps([{"post_title": " Centre  Hospitalier D&#x27;Arles", "group_name": "lockbit3"}])
    (observation,) = leaks.parse(FEED, respaced.encode())
    assert observation.entry == first[0]
    other_group = json.dumps([{"post_title": "Centre Hospitalier D'Arles", "group_name": "blackcat"}])
    assert leaks.parse(FEED, other_group.encode())[0].entry != first[0]


def test_registered_format() -> None:
    assert FORMATS[FeedFormat.LEAK_VICTIMS].kind is FeedKind.LEAK
    assert len(parse_feed(FEED, RANSOMWATCH.read_bytes())) == 7


# --- hand-made edge cases ----------------------------------------------------------------------------------


def test_hostile_and_odd_posts() -> None:
    posts: list[Any] = [
        None,
        "a string",
        {"group_name": "x"},  # no title
        {"post_title": "   ", "group_name": "x"},
        {"post_title": "&nbsp;\u200b", "group_name": "x"},
        {"post_title": "\\\\", "group_name": "x"},
        {"post_title": 42, "group_name": "x"},
        {"post_title": "A" * 100_000, "group_name": "x" * 1000, "website": "y" * 100_000},
        {"post_title": "Hôpital\x00 Privé\x1b[31m", "group_name": "x", "published": "garbage", "discovered": ""},
        {"post_title": "St.Mary Hospital", "group_name": "x", "website": "N/A"},
        {"post_title": "report.pdf", "group_name": "x", "website": "https://user@shop.example:8443/path"},
        {"post_title": "evil.example (UPDATED)", "group_name": "x", "post_url": "javascript:alert(1)"},
        {"post_title": "Clinic", "group_name": "x", "website": "192.0.2.7", "post_url": "http://leak.onion/x y"},
        {"post_title": "Zoned", "group_name": "x", "published": "2024-06-01T10:00:00+02:00"},
    ]
    observations = leaks.parse(FEED, json.dumps(posts).encode())
    assert [o.title[:10] for o in observations] == [
        "A" * 10,
        "Hôpital Pr",
        "St.Mary Ho",
        "report.pdf",
        "evil.examp",
        "Clinic",
        "Zoned",
    ]
    long, hopital, mary, report, evil, clinic, zoned = observations
    assert len(long.title) <= 300 and len(long.facts.group or "") <= 100 and long.indicators == ()
    assert hopital.title == "Hôpital Privé [31m"
    assert hopital.published is None
    assert mary.indicators == ()
    assert report.indicators == (Indicator(IndicatorType.DOMAIN, "shop.example"),)  # a file name is no domain
    assert evil.indicators == (Indicator(IndicatorType.DOMAIN, "evil.example"),)
    assert evil.link is None
    assert clinic.indicators == (Indicator(IndicatorType.IPV4, "192.0.2.7"),)
    assert clinic.link is None
    assert zoned.published == datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        RANSOMWARE_LIVE.read_bytes()[:3000],
        b"",
        b'{"victims": []}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["truncated", "empty", "object", "binary", "deep"],
)
def test_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        leaks.parse(FEED, body)


def test_empty_list_and_bom() -> None:
    assert leaks.parse(FEED, b"[]") == []
    assert len(leaks.parse(FEED, b"\xef\xbb\xbf" + RANSOMWATCH.read_bytes())) == 7
