"""The store's codecs: every domain value comes back equal, and an observation's stored text never drifts."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from builders import CVE, IPV4, NOW, many_alerts
from hypothesis import given, settings
from hypothesis import strategies as st

from alertd.domain.facts import Fact, Facts
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, VersionRange
from alertd.store.codecs import (
    alert_from_json,
    alert_to_json,
    decode_time,
    encode_time,
    finding_from_json,
    finding_to_json,
    observation_from_json,
    observation_to_json,
    product_from_list,
    product_to_list,
    products_from_json,
    range_from_list,
    range_to_list,
    recipients_from_json,
    recipients_to_json,
)
from alertd.store.sqlite import Store

V1 = Path(__file__).with_name("store_v1.sql")

texts = st.text(max_size=20)
fact_keys = st.sampled_from([fact.value for fact in Fact])  # the keys a typed field reads back, "version" among them
versions = st.none() | st.text(alphabet="0123456789.-abc", min_size=1, max_size=8)
ranges = st.builds(VersionRange, versions, versions, versions, versions, versions)
products = st.builds(Product, texts, texts, st.tuples() | st.tuples(ranges) | st.tuples(ranges, ranges))
indicators = st.builds(Indicator, st.sampled_from(IndicatorType), texts)
observations = st.builds(
    Observation,
    feed=texts,
    entry=texts,
    kind=st.sampled_from(FeedKind),
    title=texts,
    indicators=st.lists(indicators, max_size=4).map(tuple),
    products=st.lists(products, max_size=3).map(tuple),
    text=st.text(max_size=60),
    link=st.none() | texts,
    published=st.none() | st.datetimes(timezones=st.just(UTC)),
    facts=st.dictionaries(fact_keys | texts, texts, max_size=4).map(Facts.of),
    exploited=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(observations)
def test_an_observation_comes_back_equal_and_encodes_the_same_twice(obs: Observation) -> None:
    text = observation_to_json(obs)
    back = observation_from_json(text)
    assert back == obs
    assert observation_to_json(back) == text  # the digest that tells a changed entry depends on it


@given(ranges)
def test_a_version_range_comes_back_equal(r: VersionRange) -> None:
    assert range_from_list(json.loads(json.dumps(range_to_list(r)))) == r


@given(st.lists(products, max_size=4))
def test_products_come_back_equal(items: list[Product]) -> None:
    assert [product_from_list(p) for p in json.loads(json.dumps([product_to_list(p) for p in items]))] == items
    assert products_from_json(json.dumps([product_to_list(p) for p in items])) == items


def test_findings_and_alerts_come_back_equal() -> None:
    for alert in many_alerts():
        assert finding_from_json(finding_to_json(alert.finding)) == alert.finding
        assert alert_from_json(alert_to_json(alert)) == alert


def test_times_and_recipients_come_back_equal() -> None:
    paris = NOW.astimezone(ZoneInfo("Europe/Paris")) + timedelta(microseconds=7)
    assert encode_time(paris) == "2025-03-12T13:05:00.000007+00:00"  # UTC, so text order is time order
    assert decode_time(encode_time(paris)) == paris
    assert decode_time(None) is None
    assert recipients_from_json(recipients_to_json(["a@x.example", "b@y.example"])) == ("a@x.example", "b@y.example")


def test_what_an_earlier_version_stored_is_encoded_again_byte_for_byte(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "v1.sqlite3")
    db.executescript(V1.read_text(encoding="utf-8"))
    bodies = [body for (body,) in db.execute("SELECT body FROM observations")]
    db.close()
    assert len(bodies) == 4
    for body in bodies:
        assert observation_to_json(observation_from_json(body)) == body


def test_cve_products_do_not_depend_on_how_the_json_is_spaced(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    citrix = Product("citrix", "netscaler_adc", (VersionRange(end_excluding="13.1-49.15"),))
    catalogue = Observation("nvd", "CVE-2023-4966", FeedKind.VULNERABILITY, "Citrix Bleed", (CVE,), (citrix,))
    advisory = Observation("certfr", "AVI-1", FeedKind.ADVISORY, "Citrix", (CVE, IPV4))
    store.save_observations("nvd", [catalogue], NOW)
    store.save_observations("certfr", [advisory], NOW)
    assert store.cve_products() == {CVE.value: [citrix]}
    # The same entry written compactly (another encoder, a hand-edited row) reads the same.
    compact = json.dumps(json.loads(observation_to_json(catalogue)), separators=(",", ":"))
    with store.transaction() as db:
        db.execute("UPDATE observations SET body = ? WHERE feed = 'nvd'", (compact,))
    assert store.cve_products() == {CVE.value: [citrix]}
    store.close()
