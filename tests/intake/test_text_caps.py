"""A feed's own text caps (``max_field_bytes``, ``max_entry_bytes``) as its parser applies them (issue #13): a field
is cut to its start, an indicator value over the field cap is none, a CSV line over the entry cap is skipped."""

from __future__ import annotations

import dataclasses
import json

import pytest
from builders import make_feed_spec

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat, FeedSpec
from alertd.domain.values import Indicator
from alertd.domain.values import IndicatorType as T
from alertd.intake.formats import csvfeed, kev, misp, rss, stix


def capped(spec: FeedSpec, field: int, entry: int) -> FeedSpec:
    return dataclasses.replace(spec, max_field_bytes=field, max_entry_bytes=entry)


def rss_item(title: str, description: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>{title}</title><description>{description}</description><guid>g1</guid></item>"
        "</channel></rss>"
    ).encode()


def test_rss_field_cut_to_the_feed_cap_keeps_its_start() -> None:
    spec = capped(make_feed_spec("r", FeedFormat.RSS), 1024, 4096)
    title = "Alerte 198.51.100.7 " + "x" * 5000 + " far.example"
    (observation,) = rss.parse(spec, rss_item(title, "court"))
    assert observation.title == title[:1024]
    assert observation.indicators == (Indicator(T.IPV4, "198.51.100.7"),)  # what lay past the cut is unread
    (default,) = rss.parse(make_feed_spec("r", FeedFormat.RSS), rss_item(title, "court"))
    assert Indicator(T.DOMAIN, "far.example") in default.indicators  # within the default 64 KB


def test_rss_entry_text_is_read_and_kept_up_to_the_entry_cap() -> None:
    spec = capped(make_feed_spec("r", FeedFormat.RSS), 2048, 2048)
    description = " ".join(f"h{i}.example" for i in range(1000))  # 11 KB of domains
    (observation,) = rss.parse(spec, rss_item("t", description))
    assert len(observation.text) <= 2048
    assert 100 < len(observation.indicators) < 200  # those of the first 2,048 characters only


def test_csv_cell_over_the_field_cap_is_no_indicator_and_long_line_is_skipped() -> None:
    spec = capped(make_feed_spec("c", FeedFormat.CSV, columns={"url": "0"}), 1024, 1500)
    url = "http://evil.example/" + "a" * 1100
    body = f"http://ok.example/x\n{url}\n".encode()
    assert [o.indicators for o in csvfeed.parse(spec, body)] == [(Indicator(T.URL, "http://ok.example/x"),)]
    assert csvfeed.read(spec, body).skipped == 1
    with pytest.raises(ParseError, match="each over 1500 characters"):
        csvfeed.parse(spec, ("x" * 2000 + "\n").encode())


def test_misp_value_over_the_field_cap_is_invalid() -> None:
    spec = capped(make_feed_spec("m", FeedFormat.MISP), 1024, 4096)
    value = "http://evil.example/" + "a" * 1100
    event = {"Event": {"uuid": "u", "info": "i", "Attribute": [{"type": "url", "value": value, "to_ids": True}]}}
    result = misp.read(spec, json.dumps(event).encode())
    assert (result.observations, result.invalid) == ([], 1)
    assert misp.parse(make_feed_spec("m", FeedFormat.MISP), json.dumps(event).encode())[0].indicators


def test_kev_fields_cut_to_the_field_cap() -> None:
    spec = capped(make_feed_spec("k", FeedFormat.CISA_KEV), 1024, 4096)
    item = {"cveID": "CVE-2024-0001", "vulnerabilityName": "n" * 5000, "shortDescription": "d" * 5000,
            "requiredAction": "a" * 5000}  # fmt: skip
    (observation,) = kev.parse(spec, json.dumps({"vulnerabilities": [item]}).encode())
    assert (len(observation.title), len(observation.text)) == (1024, 1024)
    assert len(observation.facts.required_action or "") == 1024


def test_stix_many_labels_reports_and_malware_stay_linear() -> None:
    """Found by bench/parser_slopes.py: labels, report names and malware names were deduplicated with a list's
    ``not in`` (50,000 labels took 27 s); not timed, a regression shows as a test that does not end."""
    indicator = {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '198.51.100.7']",
                 "pattern_type": "stix", "labels": [f"l{i % 40_000}" for i in range(80_000)]}  # fmt: skip
    reports = [{"type": "report", "id": f"report--{i}", "name": f"r{i}", "object_refs": ["indicator--1"]}
               for i in range(20_000)]  # fmt: skip
    body = json.dumps({"type": "bundle", "id": "bundle--1", "objects": [indicator, *reports]}).encode()
    (observation,) = stix.parse(make_feed_spec("s", FeedFormat.STIX), body)
    assert (observation.facts.extra["labels"] or "").startswith("l0, l1, l2")
    assert (observation.facts.extra["report"] or "").startswith("r0, r1, r2")
