"""MISP events and feeds: the real samples (a MISP feed directory, CIRCL and ESET events) and hand-made edge cases."""

from __future__ import annotations

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
from alertd.intake.formats import FORMATS, misp, parse_feed

DATA = SAMPLES / "misp"
FEED_DIR = DATA / "redblue232_crowdsec_feed"
MANIFEST = FEED_DIR / "manifest.json"
CIRCL = DATA / "circl_osint_feed_event_57c4445b-c548-4654-af0b-4be3950d210f.json"
OCEANLOTUS = DATA / "eset_misp_event_oceanlotus-wateringhole-2018.json"
ZEBROCY = DATA / "eset_misp_event_sednit_2019-05-23_Zebrocy.json"
WINTERVIVERN = DATA / "eset_misp_event_wintervivern.json"
FEED = make_feed_spec("misp", FeedFormat.MISP)
SUPPORTED = {
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "domain",
    "hostname",
    "hostname|port",
    "domain|ip",
    "url",
    "email",
    "email-src",
    "email-dst",
    "md5",
    "sha1",
    "sha256",
    "filename|md5",
    "filename|sha1",
    "filename|sha256",
    "AS",
}


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _event(path: Path) -> dict[str, Any]:
    data = _load(path)
    event: dict[str, Any] = data["Event"] if "Event" in data else data["response"][0]["Event"]
    return event


def _attributes(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Every attribute of an event, at the event level and in its objects."""
    found: list[dict[str, Any]] = list(event.get("Attribute", []))
    for obj in event.get("Object", []):
        found.extend(obj.get("Attribute", []))
    return found


def _to_ids(attribute: dict[str, Any]) -> bool:
    return attribute.get("to_ids") in (True, 1, "1", "true", "True")


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


def _observations_of(event: dict[str, Any]) -> list[Any]:
    return misp.parse(FEED, _body({"Event": event}))


# --- the MISP feed directory -------------------------------------------------------------------------------


def test_expand_manifest_lists_every_event_newest_first() -> None:
    manifest = _load(MANIFEST)
    assert len(manifest) == 3
    newest_first = sorted(manifest, key=lambda uuid: -int(manifest[uuid]["timestamp"]))
    url = "https://feeds.example/misp-feed/manifest.json"
    links = misp.expand(FEED, MANIFEST.read_bytes(), url)
    assert links == [f"https://feeds.example/misp-feed/{uuid}.json" for uuid in newest_first]
    assert links is not None and len(links) == 3
    assert {link.rsplit("/", 1)[1].removesuffix(".json") for link in links} == set(manifest)
    for uuid in manifest:
        assert (FEED_DIR / f"{uuid}.json").exists()  # every URL names a file of the feed directory


def test_expand_file_url() -> None:
    links = misp.expand(FEED, MANIFEST.read_bytes(), MANIFEST.as_uri())
    assert links is not None
    assert all(Path(link.removeprefix("file://")).exists() for link in links)


def test_expand_returns_none_for_event_documents() -> None:
    url = "https://feeds.example/x.json"
    for path in (FEED_DIR / "d177856e-6e46-44ee-8eb5-83ef1c7452c7.json", CIRCL, OCEANLOTUS, WINTERVIVERN):
        assert misp.expand(FEED, path.read_bytes(), url) is None
    assert misp.expand(FEED, b'{"Event": {', url) is None  # truncated: parse() tells what is wrong
    assert misp.expand(FEED, b"[1, 2]", url) is None
    assert misp.expand(FEED, b'{"not": "a manifest"}', url) is None
    assert misp.expand(FEED, b"{}", url) == []  # an empty feed


def test_expand_skips_keys_that_are_not_uuids_and_caps_the_list() -> None:
    manifest: dict[str, Any] = {
        "../../etc/passwd": {"timestamp": "9999999999"},
        "http://evil.example/x": {"timestamp": "9999999999"},
        "6a10e5d8-f1cd-42b0-8240-a4650efd83d6/../x": {"timestamp": "1"},
        "6a10e5d8-f1cd-42b0-8240-a4650efd83d6": {"timestamp": "5"},
        "8f09de10-6867-45c6-814d-3d91a33d3af7": "not an object",
    }
    links = misp.expand(FEED, _body(manifest), "https://feeds.example/feed/manifest.json")
    assert links == [
        "https://feeds.example/feed/6a10e5d8-f1cd-42b0-8240-a4650efd83d6.json",
        "https://feeds.example/feed/8f09de10-6867-45c6-814d-3d91a33d3af7.json",
    ]
    big = {f"00000000-0000-4000-8000-{i:012x}": {"timestamp": str(i)} for i in range(misp.MAX_EVENTS + 10)}
    links = misp.expand(FEED, _body(big), "https://feeds.example/feed/manifest.json")
    assert links is not None and len(links) == misp.MAX_EVENTS
    assert links[0].endswith(f"{misp.MAX_EVENTS + 9:012x}.json")  # the newest


@pytest.mark.parametrize("path", sorted(FEED_DIR.glob("*-*.json")), ids=lambda p: p.name[:8])
def test_feed_events_one_observation_per_to_ids_address(path: Path) -> None:
    event = _event(path)
    expected = [a for a in _attributes(event) if _to_ids(a) and a["type"] == "ip-src"]
    assert len(expected) == len(_attributes(event)) > 0  # the feed flags every address to_ids
    observations = misp.parse(FEED, path.read_bytes())
    assert len(observations) == len(expected)
    assert [o.entry for o in observations] == [a["uuid"] for a in expected]
    assert [o.indicators for o in observations] == [(Indicator(IndicatorType.IPV4, a["value"]),) for a in expected]
    first, attribute = observations[0], expected[0]
    assert first.feed == "misp"
    assert first.kind is FeedKind.COMPROMISE
    assert first.title == event["info"]  # CrowdSec comments are long: not in the title
    assert first.text == ""
    assert first.link is None
    assert first.published == datetime.fromtimestamp(int(attribute["timestamp"]), UTC)
    assert first.facts.extra["event"] == event["uuid"]
    assert first.facts.extra["event_info"] == event["info"]
    assert first.facts.extra["category"] == "Network activity"
    assert first.facts.extra["type"] == "ip-src"
    assert first.facts.extra["comment"] == attribute["comment"][:500]
    assert first.facts.extra["threat_level"] == "low"
    assert first.facts.extra["org"] == "cyberdefense.blue"
    assert first.facts.extra["tags"] == ", ".join(t["name"] for t in event["Tag"])
    assert all(isinstance(v, str) for o in observations for v in o.facts.to_json().values())


def test_feed_read_counts() -> None:
    path = FEED_DIR / "d177856e-6e46-44ee-8eb5-83ef1c7452c7.json"
    result = misp.read(FEED, path.read_bytes())
    assert result.events == 1
    assert result.attributes == len(_attributes(_event(path))) == 359
    assert (result.not_ids, result.unsupported, result.invalid) == (0, 0, 0)
    assert len(result.observations) == 359


def test_registered_format_parses_and_expands() -> None:
    fmt = FORMATS[FeedFormat.MISP]
    assert fmt.kind is FeedKind.COMPROMISE
    assert fmt.expand is misp.expand
    assert len(parse_feed(FEED, CIRCL.read_bytes())) == 3


# --- single events -----------------------------------------------------------------------------------------


def test_circl_event_hashes_only_to_ids_indicators() -> None:
    event = _event(CIRCL)
    expected = [a for a in event["Attribute"] if _to_ids(a) and a["type"] in SUPPORTED]
    assert [a["type"] for a in expected] == ["md5", "sha1", "sha256"]
    observations = misp.parse(FEED, CIRCL.read_bytes())
    assert [o.entry for o in observations] == [a["uuid"] for a in expected]
    assert [o.indicators[0] for o in observations] == [Indicator(IndicatorType.HASH, a["value"]) for a in expected]
    md5 = observations[0]
    assert md5.title == "Ransomware - Xorist — Imported via the Freetext Import Tool"  # a short comment is shown
    assert md5.facts.extra["org"] == "CIRCL"
    assert md5.facts.extra["tlp"] == "white"
    assert md5.facts.extra["threat_level"] == "low"
    assert md5.facts.extra["tags"].startswith('tlp:white, circl:incident-classification="malware"')
    result = misp.read(FEED, CIRCL.read_bytes())
    # links, a comment and a text are not to_ids; the filename and the registry key name no network indicator.
    assert (result.attributes, result.not_ids, result.unsupported) == (9, 4, 2)


def test_wintervivern_object_attributes_crlf() -> None:
    body = WINTERVIVERN.read_bytes()
    assert b"\r\n" in body  # the sample keeps ESET's CRLF line endings
    event = _event(WINTERVIVERN)
    assert not event.get("Attribute")  # everything is held in MISP objects
    expected = [a for a in _attributes(event) if _to_ids(a) and a["type"] in SUPPORTED]
    assert len(expected) == 6
    observations = misp.parse(FEED, body)
    assert [o.entry for o in observations] == [a["uuid"] for a in expected]
    values = {o.indicators[0] for o in observations}
    assert Indicator(IndicatorType.EMAIL, "team.managment@outlook.com") in values
    assert Indicator(IndicatorType.URL, "https://recsecas.com/controlserver/checkupdate.js") in values
    assert Indicator(IndicatorType.URL, "https://recsecas.com/controlserver/saveMessage") in values
    assert Indicator(IndicatorType.HASH, "f6e074c38f0f0854aba8b8a43165f37509ed18c5bc009a4433f3868457da2ded") in values
    assert {o.facts.extra["object"] for o in observations} == {"email", "url", "file"}
    assert all(o.facts.extra["org"] == "ESET" and o.facts.extra["threat_level"] == "high" for o in observations)
    assert observations[0].published == datetime(2023, 10, 19, 20, 56, 25, tzinfo=UTC)


@pytest.mark.parametrize("path", [OCEANLOTUS, ZEBROCY], ids=["oceanlotus", "zebrocy"])
def test_rest_exports_flagged_not_for_ids_give_nothing(path: Path) -> None:
    attributes = _attributes(_event(path))
    assert attributes and not any(_to_ids(a) for a in attributes)  # ESET exports them as context, not for IDS
    result = misp.read(FEED, path.read_bytes())
    assert result.observations == []
    assert result.not_ids == result.attributes == len(attributes)


def test_domain_ip_composites_give_two_indicators() -> None:
    data = _load(OCEANLOTUS)
    event = data["response"][0]["Event"]
    for attribute in event["Attribute"]:
        attribute["to_ids"] = True  # the same real attributes, as a feed that flags them for IDS sends them
    composites = [a for a in event["Attribute"] if a["type"] == "domain|ip"]
    assert len(composites) == 49
    observations = misp.parse(FEED, _body(data))
    assert len(observations) == sum(1 for a in event["Attribute"] if a["type"] in SUPPORTED)
    by_entry = {o.entry: o for o in observations}
    for attribute in composites:
        domain, address = attribute["value"].split("|")
        assert by_entry[attribute["uuid"]].indicators == (
            Indicator(IndicatorType.DOMAIN, domain),
            Indicator(IndicatorType.IPV4, address),
        )
    assert by_entry[composites[0]["uuid"]].facts.extra["type"] == "domain|ip"


def test_rest_export_with_several_events() -> None:
    first, second = _event(CIRCL), _event(FEED_DIR / "6a10e5d8-f1cd-42b0-8240-a4650efd83d6.json")
    body = _body({"response": [{"Event": first}, {"Event": second}, {"not": "an event"}, "junk"]})
    result = misp.read(FEED, body)
    assert result.events == 2
    assert len(result.observations) == 3 + 58
    assert {o.facts.extra["event"] for o in result.observations} == {first["uuid"], second["uuid"]}


# --- hand-made edge cases ----------------------------------------------------------------------------------


def _attribute(kind: str, value: Any, to_ids: Any = "1", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "value": value, "to_ids": to_ids, "category": "Network activity", **extra}


def test_to_ids_in_every_form_misp_writes_it() -> None:
    flags: list[Any] = [True, 1, "1", "true", "True", False, 0, "0", "false", None, "", [1]]
    event = {
        "uuid": "11111111-2222-4333-8444-555555555555",
        "info": "flags",
        "Attribute": [_attribute("ip-dst", f"192.0.2.{i}", flag) for i, flag in enumerate(flags)],
    }
    observations = _observations_of(event)
    assert [o.indicators[0].value for o in observations] == [f"192.0.2.{i}" for i in range(5)]


def test_every_supported_type() -> None:
    event = {
        "uuid": "11111111-2222-4333-8444-555555555555",
        "info": "All the types",
        "date": "2024-05-01",
        "threat_level_id": "2",
        "Orgc": {"name": "CERT Santé"},
        "Tag": [{"name": "tlp:amber"}, {"name": "ransomware"}, "junk"],
        "Attribute": [
            _attribute("ip-src", "198.51.100.0/24", uuid="a1"),
            _attribute("ip-dst|port", "203.0.113.7|8443", uuid="a2"),
            _attribute("ip-src|port", "2001:db8::1|22", uuid="a3"),
            _attribute("hostname", "C2.Evil.Example.", uuid="a4"),
            _attribute("hostname|port", "c2.evil.example|443", uuid="a5"),
            _attribute("domain", "evil[.]example", uuid="a6"),
            _attribute("url", "hxxps://evil.example/gate.php", uuid="a7"),
            _attribute("email-dst", "Victim@Hopital.Example", uuid="a8"),
            _attribute("email", "x@evil.example", uuid="a9"),
            _attribute("filename|sha256", "a|b.exe|" + "AB" * 32, uuid="a10"),
            _attribute("filename|md5", "x.dll|" + "cd" * 16, uuid="a11"),
            _attribute("AS", "AS64500", uuid="a12"),
            _attribute("uri", "/gate.php", uuid="b1"),
            _attribute("link", "https://blog.example/report", uuid="b2"),
            _attribute("filename", "x.exe", uuid="b3"),
            _attribute("domain", "not a domain", uuid="b4"),
            _attribute("sha256", "123", uuid="b5"),
            _attribute("domain", "deleted.example", uuid="b6", deleted=True),
            _attribute("domain", "x" * 10_000 + ".example", uuid="b7"),
            _attribute("ip-dst", 12345, uuid="b8"),
            "not an attribute",
        ],
        "Object": [{"name": "gone", "deleted": "1", "Attribute": [_attribute("domain", "gone.example")]}],
    }
    result = misp.read(FEED, _body({"Event": event}))
    observations = result.observations
    assert [o.entry for o in observations] == [f"a{i}" for i in range(1, 13)]
    assert [o.indicators for o in observations] == [
        (Indicator(IndicatorType.CIDR, "198.51.100.0/24"),),
        (Indicator(IndicatorType.IPV4, "203.0.113.7"),),
        (Indicator(IndicatorType.IPV6, "2001:db8::1"),),
        (Indicator(IndicatorType.DOMAIN, "c2.evil.example"),),
        (Indicator(IndicatorType.DOMAIN, "c2.evil.example"),),
        (Indicator(IndicatorType.DOMAIN, "evil.example"),),
        (Indicator(IndicatorType.URL, "https://evil.example/gate.php"),),
        (Indicator(IndicatorType.EMAIL, "victim@hopital.example"),),
        (Indicator(IndicatorType.EMAIL, "x@evil.example"),),
        (Indicator(IndicatorType.HASH, "ab" * 32),),
        (Indicator(IndicatorType.HASH, "cd" * 16),),
        (Indicator(IndicatorType.ASN, "64500"),),
    ]
    assert (result.unsupported, result.invalid) == (3, 4)  # uri, link, filename; two bad values, too long, a number
    assert observations[1].facts.port == "8443"
    assert observations[4].facts.port == "443"
    assert "port" not in observations[0].facts.to_json()
    first = observations[0]
    assert first.facts.extra["threat_level"] == "medium"
    assert first.facts.extra["org"] == "CERT Santé"
    assert first.facts.extra["tags"] == "tlp:amber, ransomware"
    assert first.facts.extra["tlp"] == "amber"
    assert first.facts.extra["comment"] == ""
    assert first.published == datetime(2024, 5, 1, tzinfo=UTC)  # no attribute timestamp: the event's date


def test_entry_without_uuid_is_a_stable_hash_and_repeats_are_dropped() -> None:
    event = {
        "uuid": "11111111-2222-4333-8444-555555555555",
        "info": "x",
        "Attribute": [_attribute("domain", "evil.example"), _attribute("domain", "evil.example")],
    }
    first = _observations_of(event)
    assert len(first) == 1
    assert len(first[0].entry) == 32
    assert [o.entry for o in _observations_of(event)] == [first[0].entry]
    event["uuid"] = "99999999-2222-4333-8444-555555555555"
    assert _observations_of(event)[0].entry != first[0].entry


def test_title_comment_and_caps() -> None:
    long_comment = "word " * 400
    event = {
        "uuid": "u",
        "info": "  Phishing\r\n campaign ",
        "timestamp": "1700000000",
        "Attribute": [
            _attribute("domain", "a.example", comment="  Landing\r\npage  ", timestamp="1700000001"),
            _attribute("domain", "b.example", comment=long_comment, timestamp="0"),
        ],
    }
    short, long = _observations_of(event)
    assert short.title == "Phishing campaign — Landing page"
    assert short.published == datetime.fromtimestamp(1700000001, UTC)
    assert long.title == "Phishing campaign"
    assert len(long.facts.extra["comment"]) <= 500
    assert long.published is None  # "0" is no time, and the event has no date
    nameless = _observations_of({"uuid": "u2", "Attribute": [_attribute("domain", "c.example")]})
    assert nameless[0].title == "MISP event u2"


@pytest.mark.parametrize(
    "body",
    [
        CIRCL.read_bytes()[:500],  # truncated
        b"",
        b"not json",
        b"[]",
        b'{"Event": "not an object"}',
        b'{"response": "nothing"}',
        b'{"foo": 1}',
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,  # nested beyond the JSON decoder's recursion limit
    ],
    ids=["truncated", "empty", "text", "list", "event-string", "response-string", "other", "binary", "deep"],
)
def test_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        misp.parse(FEED, body)


def test_manifest_given_to_parse_is_an_error() -> None:
    with pytest.raises(ParseError, match=r"manifest\.json"):
        misp.parse(FEED, MANIFEST.read_bytes())


def test_bom_is_accepted() -> None:
    assert len(misp.parse(FEED, b"\xef\xbb\xbf" + CIRCL.read_bytes())) == 3


def test_feed_kind_is_kept() -> None:
    feed = make_feed_spec("m", FeedFormat.MISP, FeedKind.EXPOSURE)
    assert {o.kind for o in misp.parse(feed, CIRCL.read_bytes())} == {FeedKind.EXPOSURE}
