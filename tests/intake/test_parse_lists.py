"""Shadowserver reports and one-per-line blocklists read by the csv format with no more than a column mapping."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.feeds import FeedFormat, FeedSpec
from alertd.domain.values import FeedKind, IndicatorType
from alertd.intake.formats import csvfeed

DATA = SAMPLES / "other"


def feed(columns: dict[str, str], kind: FeedKind = FeedKind.COMPROMISE) -> FeedSpec:
    return make_feed_spec("t", FeedFormat.CSV, kind, columns)


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


@pytest.mark.parametrize(
    ("name", "columns", "kind", "address_column"),
    [
        ("shadowserver_scan_exchange.csv", {"ip": "ip", "port": "port", "threat": "tag"}, FeedKind.EXPOSURE, "ip"),
        ("shadowserver_scan_rdp.csv", {"ip": "ip", "port": "port", "threat": "tag"}, FeedKind.EXPOSURE, "ip"),
        (
            "shadowserver_botnet_drone.csv",
            {"ip": "ip", "port": "port", "malware": "infection"},
            FeedKind.COMPROMISE,
            "ip",
        ),
        ("shadowserver_event4_sinkhole_http.csv", {"ip": "src_ip", "port": "src_port"}, FeedKind.COMPROMISE, "src_ip"),
    ],
)
def test_shadowserver_reports(name: str, columns: dict[str, str], kind: FeedKind, address_column: str) -> None:
    path = DATA / "shadowserver" / name
    rows = csv_rows(path)
    result = csvfeed.read(feed(columns, kind), path.read_bytes())
    expected = {(r[address_column], r.get(columns.get("port", ""), "")) for r in rows}
    assert result.rows == len(rows)
    assert len(result.observations) == len(expected)
    assert {(o.indicators[0].value, o.facts.port or "") for o in result.observations} == expected
    assert all(o.kind is kind for o in result.observations)


def test_exchange_scan_keeps_the_cve_tag() -> None:
    path = DATA / "shadowserver" / "shadowserver_scan_exchange.csv"
    result = csvfeed.read(feed({"ip": "ip", "threat": "tag"}, FeedKind.EXPOSURE), path.read_bytes())
    assert "exchange;cve-2021-26855" in {o.facts.extra["threat"] for o in result.observations}


def test_spamhaus_drop_by_position_with_semicolon_comments() -> None:
    path = DATA / "spamhaus_drop_2026-08-22.txt"
    lines = [line.split(";")[0].strip() for line in path.read_text().splitlines() if not line.startswith(";")]
    cidrs = {c for c in lines if c}
    result = csvfeed.read(feed({"cidr": "0"}), path.read_bytes())
    assert {o.indicators[0].value for o in result.observations} == cidrs
    assert len(cidrs) == 1698 and all(o.indicators[0].type is IndicatorType.CIDR for o in result.observations)


def test_dshield_tab_separated_start_and_prefix() -> None:
    path = DATA / "dshield_block_2026-08-22.txt"
    rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    result = csvfeed.read(feed({"cidr": "0", "prefix": "2"}), path.read_bytes())
    assert sorted(o.indicators[0].value for o in result.observations) == sorted(f"{r[0]}/{r[2]}" for r in rows)
    assert len(rows) == 20
