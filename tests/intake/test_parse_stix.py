"""STIX 2.0 and 2.1 bundles: the OASIS and Talos samples, and patterns the parser must take apart or refuse."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import FORMATS, parse_feed, stix

DATA = SAMPLES / "stix"
APT1 = DATA / "oasis_stix21_example_apt1.json"
POISONIVY = DATA / "oasis_stix21_example_poisonivy.json"
MALICIOUS_URL = DATA / "oasis_stix21_example_indicator-for-malicious-url.json"
FILE_HASH = DATA / "oasis_stix21_example_malware-indicator-for-file-hash.json"
INTERLOCK = DATA / "talos_stix20_2024-11_emerging-interlock-ransomware.json"
QAKBOT = DATA / "talos_stix20_2023-10_qakbot-affiliated-actors-distribute-ransom.json"
FEED = make_feed_spec("stix", FeedFormat.STIX)
NETWORK = (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR, IndicatorType.DOMAIN, IndicatorType.URL)
# Independent of the parser: which patterns compare a network property at all (a plain substring test).
NETWORK_PROPERTIES = ("ipv4-addr:value", "ipv6-addr:value", "domain-name:value", "url:value", "_ref.value")


def _indicators(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [o for o in json.load(f)["objects"] if o["type"] == "indicator"]


def _bundle(*objects: Any, spec_version: str | None = None) -> bytes:
    bundle: dict[str, Any] = {"type": "bundle", "id": "bundle--1", "objects": list(objects)}
    if spec_version:
        bundle["spec_version"] = spec_version
    return json.dumps(bundle).encode()


def _indicator(pattern: str, number: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
        "created": "2024-01-02T03:04:05.000Z",
        "modified": "2024-01-02T03:04:05.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-02T03:04:05Z",
        **extra,
    }


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.stem[:30])
def test_one_observation_per_indicator_object(path: Path) -> None:
    expected = _indicators(path)
    result = stix.read(FEED, path.read_bytes())
    assert result.indicators == len(expected) > 0
    assert (result.rejected, result.other_languages) == (0, 0)
    assert [o.entry for o in result.observations] == [o["id"] for o in expected]
    network = [o for o in expected if any(p in o["pattern"] for p in NETWORK_PROPERTIES)]
    assert sum(1 for o in result.observations if any(i.type in NETWORK for i in o.indicators)) == len(network)
    assert all(o.kind is FeedKind.COMPROMISE and o.feed == "stix" for o in result.observations)
    assert all(o.published is not None and o.published.tzinfo is UTC for o in result.observations)


def test_apt1_networks_domains_hashes_and_certificates() -> None:
    expected = _indicators(APT1)
    observations = stix.parse(FEED, APT1.read_bytes())
    assert len(observations) == len(expected) == 12
    found = [o.indicators for o in observations]
    assert found[:4] == [
        (Indicator(IndicatorType.CIDR, "223.166.0.0/15"),),
        (Indicator(IndicatorType.CIDR, "58.246.0.0/15"),),
        (Indicator(IndicatorType.CIDR, "112.64.0.0/15"),),
        (Indicator(IndicatorType.CIDR, "139.226.0.0/15"),),
    ]
    assert found[4] == (Indicator(IndicatorType.DOMAIN, "hugesoft.org"),)
    md5 = [o for o in expected if "file:hashes.md5" in o["pattern"]]
    assert len(md5) == 3
    assert found[7:10] == [
        (Indicator(IndicatorType.HASH, re.findall(r"'([0-9a-f]{32})'", o["pattern"])[0]),) for o in md5
    ]
    assert found[10:] == [(), ()]  # x509 certificates: no indicator the matcher can use, but still observed
    first = observations[0]
    assert first.title == "HTRAN Hop Point Accessor"
    assert first.text == expected[0].get("description", "")
    assert first.published == datetime(2015, 5, 15, 9, 12, 16, 432678, tzinfo=UTC)
    assert first.facts.extra["labels"] == "malicious-activity"
    assert first.facts.extra["pattern"] == "[ipv4-addr:value = '223.166.0.0/15']"
    assert first.facts.malware == "HUC Packet Transmit Tool (HTRAN)"
    assert first.facts.extra["report"] == "APT1: Exposing One of China's Cyber Espionage Units"
    assert "confidence" not in first.facts.to_json()
    assert all(isinstance(v, str) for o in observations for v in o.facts.to_json().values())


def test_poisonivy_compound_patterns_give_every_value() -> None:
    expected = _indicators(POISONIVY)
    observations = stix.parse(FEED, POISONIVY.read_bytes())
    assert len(observations) == len(expected) == 25
    for obj, observation in zip(expected, observations, strict=True):
        # Independent reading of these simple patterns: every quoted value after a domain or address property,
        # less the one value that is not a host name ('domain autuo.xicp.net').
        domains = re.findall(r"domain-name:value = '([^']*)'", obj["pattern"])
        addresses = re.findall(r"ipv4-addr:value = '([^']*)'", obj["pattern"])
        wanted = [Indicator(IndicatorType.DOMAIN, d) for d in domains if " " not in d]
        wanted += [Indicator(IndicatorType.IPV4, a) for a in addresses]
        assert sorted(observation.indicators) == sorted(dict.fromkeys(wanted)), obj["pattern"]
    dynssl = next(o for o in observations if o.title == "www.webserver.dynssl.com")
    assert dynssl.indicators[0] == Indicator(IndicatorType.DOMAIN, "www.webserver.dynssl.com")
    assert Indicator(IndicatorType.IPV4, "113.10.246.30") in dynssl.indicators
    assert len(dynssl.indicators) == 6
    assert dynssl.facts.extra["labels"] == "malicious-activity, attribution"


def test_single_url_and_sha256_examples() -> None:
    (url,) = stix.parse(FEED, MALICIOUS_URL.read_bytes())
    assert url.indicators == (Indicator(IndicatorType.URL, "http://x4z9arb.cn/4712/"),)
    assert url.title == "Malicious site hosting downloader"
    assert url.facts.malware == "x4z9arb backdoor"
    assert url.published == datetime(2014, 6, 29, 13, 49, 37, 79000, tzinfo=UTC)
    (sha256,) = stix.parse(FEED, FILE_HASH.read_bytes())
    assert sha256.indicators == (
        Indicator(IndicatorType.HASH, "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"),
    )
    assert sha256.published == datetime(2014, 2, 20, 9, 0, tzinfo=UTC)  # valid_from, not created


def test_talos_stix20_network_traffic_and_hashes() -> None:
    expected = _indicators(INTERLOCK)
    observations = stix.parse(FEED, INTERLOCK.read_bytes())
    assert len(observations) == len(expected) == 10
    refs = [o for o in expected if "network-traffic:dst_ref.value" in o["pattern"]]
    assert [o.indicators for o in observations[: len(refs)]] == [
        (Indicator(IndicatorType.IPV4, re.findall(r"dst_ref.value = '([^']*)'", o["pattern"])[0]),) for o in refs
    ]
    assert observations[3].indicators == (
        Indicator(IndicatorType.URL, "http://23.95.182.59/31279geuwtoisgdehbiuowaehsgdb/cht"),
    )
    assert observations[-1].indicators == (
        Indicator(IndicatorType.HASH, "e86bb8361c436be94b0901e5b39db9b6666134f23cce1e5581421c2981405cb1"),
    )
    first = observations[0]
    assert first.title == "Download server"  # no name: the description
    assert first.text == "Download server"
    assert first.published == datetime(2024, 11, 7, 5, 25, 52, tzinfo=UTC)
    assert first.facts.extra["labels"] == 'misp:type="ip-dst", misp:category="Network activity", misp:to_ids="True"'
    assert first.facts.extra["report"] == "Unwrapping the emerging Interlock ransomware attack"


def test_talos_indicators_without_name_or_description_take_the_report_name() -> None:
    expected = _indicators(QAKBOT)
    assert not any("name" in o or "description" in o for o in expected)
    observations = stix.parse(FEED, QAKBOT.read_bytes())
    assert len(observations) == 25
    hashes = sum(1 for o in expected if "file:hashes.SHA256" in o["pattern"])
    assert sum(1 for o in observations if o.indicators[0].type is IndicatorType.HASH) == hashes == 23
    assert {o.title for o in observations} == {
        "Qakbot-affiliated actors distribute Ransom Night malware despite infrastructure takedown"
    }


def test_registered_format() -> None:
    assert FORMATS[FeedFormat.STIX].kind is FeedKind.COMPROMISE
    assert FORMATS[FeedFormat.STIX].expand is None
    assert len(parse_feed(FEED, POISONIVY.read_bytes())) == 25


# --- hand-made patterns ------------------------------------------------------------------------------------


def test_compound_pattern_gives_both_indicators() -> None:
    body = _bundle(_indicator("[domain-name:value = 'x.example' OR ipv4-addr:value = '1.2.3.4']", name="both"))
    (observation,) = stix.parse(FEED, body)
    assert observation.indicators == (
        Indicator(IndicatorType.DOMAIN, "x.example"),
        Indicator(IndicatorType.IPV4, "1.2.3.4"),
    )
    assert observation.title == "both"
    assert observation.entry == "indicator--00000000-0000-4000-8000-000000000001"
    assert observation.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_malformed_pattern_is_skipped_and_counted() -> None:
    body = _bundle(
        _indicator("[domain-name:value = 'good.example']", 1),
        _indicator("[domain-name:value = 'unterminated]", 2),
        _indicator("domain-name:value = 'no-brackets.example'", 3),
        _indicator("[ipv4-addr:value = '192.0.2.1'", 4),
        _indicator("", 5),
        _indicator(["[not a string]"], 6),  # type: ignore[arg-type]
        _indicator("(" * 5000 + "[ipv4-addr:value = '192.0.2.2']" + ")" * 5000, 7),
        _indicator("[ipv4-addr:value = '192.0.2.3' OR ipv4-addr:value = '192.0.2.4']", 8),
    )
    result = stix.read(FEED, body)
    assert result.indicators == 8
    assert result.rejected == 6
    assert [o.indicators for o in result.observations] == [
        (Indicator(IndicatorType.DOMAIN, "good.example"),),
        (Indicator(IndicatorType.IPV4, "192.0.2.3"), Indicator(IndicatorType.IPV4, "192.0.2.4")),
    ]


def test_operators_and_properties() -> None:
    patterns = {
        "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]": ["ipv4:192.0.2.1", "ipv4:192.0.2.2"],
        "[ipv6-addr:value = '2001:DB8::/32']": ["cidr:2001:db8::/32"],
        "[ipv6-addr:value = '2001:db8::1']": ["ipv6:2001:db8::1"],
        "[email-addr:value = 'Phish@Evil.Example']": ["email:phish@evil.example"],
        "[email-message:from_ref.value = 'a@evil.example']": ["email:a@evil.example"],
        "[network-traffic:dst_ref.value = 'c2.evil.example' AND network-traffic:dst_port = 443]": [
            "domain:c2.evil.example"
        ],
        "[file:hashes.'SHA-1' = '" + "AB" * 20 + "']": ["hash:" + "ab" * 20],
        "[file:hashes.MD5 = '" + "cd" * 16 + "' AND file:name = 'x.exe']": ["hash:" + "cd" * 16],
        "[file:hashes.'SHA-512' = '" + "ef" * 64 + "']": [],
        "[url:value = 'hxxp://evil[.]example/it''s']": [],  # not a valid literal: rejected
        "[url:value = 'http://evil.example/it\\'s']": ["url:http://evil.example/it's"],
        "[domain-name:value != 'benign.example']": [],
        "[domain-name:value NOT IN ('benign.example')]": [],
        "[domain-name:value LIKE '%.evil.example']": [],
        "[domain-name:value MATCHES '^evil']": [],
        "[domain-name:value = 'a.example'] FOLLOWEDBY [domain-name:value = 'b.example'] WITHIN 60 SECONDS": [
            "domain:a.example",
            "domain:b.example",
        ],
        "[x509-certificate:serial_number = '01:02']": [],
        "[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = '192.0.2.1']": ["ipv4:192.0.2.1"],
    }
    body = _bundle(*(_indicator(p, i) for i, p in enumerate(patterns)))
    result = stix.read(FEED, body)
    by_pattern = {o.facts.extra["pattern"]: [str(i) for i in o.indicators] for o in result.observations}
    assert result.rejected == 1
    for pattern, wanted in patterns.items():
        if "it''s" in pattern:
            assert pattern not in by_pattern
        else:
            assert by_pattern[pattern] == wanted, pattern


def test_long_or_chain_beyond_the_recursion_limit() -> None:
    # The library's recursive tree walker fails near a thousand OR-ed comparisons; the iterative one does not.
    addresses = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(3000)]
    pattern = "[" + " OR ".join(f"ipv4-addr:value = '{a}'" for a in addresses) + "]"
    (observation,) = stix.parse(FEED, _bundle(_indicator(pattern)))
    assert [i.value for i in observation.indicators] == addresses
    assert len(observation.facts.extra["pattern"]) == 1000


def test_stix20_bundle_and_version_fallback() -> None:
    legacy = {
        "type": "indicator",
        "id": "indicator--20",
        "created": "2017-01-01T00:00:00.000Z",
        "modified": "2017-01-01T00:00:00.000Z",
        "labels": ["malicious-activity"],
        "pattern": "[file:hashes.'SHA-256' = '" + "12" * 32 + "']",
        "valid_from": "2017-01-01T00:00:00Z",
    }
    (observation,) = stix.parse(FEED, _bundle(legacy, spec_version="2.0"))
    assert observation.indicators == (Indicator(IndicatorType.HASH, "12" * 32),)
    assert observation.title == "indicator--20"  # no name, description or report
    # A 2.1 timestamp literal (t'...') in a bundle that says 2.0: the 2.1 grammar is tried next.
    qualified = dict(
        legacy,
        pattern="[ipv4-addr:value = '192.0.2.9'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    )
    (observation,) = stix.parse(FEED, _bundle(qualified, spec_version="2.0"))
    assert observation.indicators == (Indicator(IndicatorType.IPV4, "192.0.2.9"),)


def test_other_languages_revoked_versions_and_facts() -> None:
    body = _bundle(
        _indicator('alert tcp any any -> any any (msg:"x";)', 1, pattern_type="snort"),
        _indicator("[domain-name:value = 'revoked.example']", 2, revoked=True),
        _indicator("[domain-name:value = 'old.example']", 3, modified="2024-01-01T00:00:00Z"),
        _indicator("[domain-name:value = 'new.example']", 3, modified="2024-02-01T00:00:00Z"),
        _indicator("[domain-name:value = 'older.example']", 3, modified="2023-01-01T00:00:00Z"),
        _indicator(
            "[domain-name:value = 'attrs.example']",
            4,
            description="  A long\n description " + "x" * 300,
            indicator_types=["malicious-activity", "compromised"],
            labels="custom",
            confidence=85,
            valid_from="not a date",
            created="2020-05-06T07:08:09+02:00",
        ),
        {"type": "indicator"},  # no id and no pattern: rejected, not a crash
        "not an object",
        {"type": "malware", "id": "malware--1", "name": "Evil RAT"},
        {
            "type": "relationship",
            "relationship_type": "indicates",
            "source_ref": _indicator("", 4)["id"],
            "target_ref": "malware--1",
        },
    )
    result = stix.read(FEED, body)
    assert (result.indicators, result.other_languages, result.rejected) == (4, 1, 1)
    new, detailed = result.observations
    assert new.indicators == (Indicator(IndicatorType.DOMAIN, "new.example"),)
    assert detailed.title == ("A long description " + "x" * 300)[:120]
    assert detailed.text.startswith("A long\n description")
    assert detailed.facts.extra["labels"] == "malicious-activity, compromised, custom"
    assert detailed.facts.extra["confidence"] == "85"
    assert detailed.facts.malware == "Evil RAT"
    assert detailed.published == datetime(2020, 5, 6, 5, 8, 9, tzinfo=UTC)  # created, in UTC


@pytest.mark.parametrize(
    "body",
    [
        POISONIVY.read_bytes()[:1000],
        b"",
        b"[]",
        b'{"type": "report"}',
        b'{"type": "bundle", "objects": {}}',
        b"\xff",
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
    ],
    ids=["truncated", "empty", "list", "not-bundle", "objects-not-list", "binary", "deep"],
)
def test_parse_errors(body: bytes) -> None:
    with pytest.raises(ParseError):
        stix.parse(FEED, body)


def test_empty_bundle() -> None:
    assert stix.parse(FEED, b'{"type": "bundle", "id": "bundle--1"}') == []
