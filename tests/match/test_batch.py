"""Blocklists read in bulk (a dry run's path) give what the row path gives: the same findings and set-aside
indicators, in the same order, the same counts of rows, skipped rows and duplicates, the same errors.

The oracle: every real CSV sample, and generated lists with hits at the edges of networks, benign ranges, the
allowlist, private space, IPv6, ``ip:port`` cells, CIDRs in the address column, ragged and malformed rows,
repeated rows, over-long lines, CR and CRLF line breaks and a quoted cell running over a line break.
"""

from __future__ import annotations

import ipaddress
import random
import sys
from dataclasses import replace
from functools import partial
from types import MappingProxyType

import pytest
from builders import FEODO_HEADER, feodo_rows, make_feed_spec
from builders import feodo_row as row
from paths import DATA, SHARED

from alertd.domain.errors import ParseError
from alertd.domain.establishments import Establishment, Registry
from alertd.domain.feeds import FeedFormat, FeedSpec
from alertd.domain.values import FeedKind, IndicatorType, Observation
from alertd.intake.formats import csvbulk, csvfeed
from alertd.match.batch import v4_sifted
from alertd.match.benign import Allowlist, BenignLists
from alertd.match.index import MatchIndex, MatchResult
from alertd.service.poll import sifted

FEODO = {"ip": "dst_ip", "port": "dst_port", "first_seen": "first_seen_utc", "malware": "malware"}
FEODO_FULL = {**FEODO, "status": "c2_status", "last_seen": "last_online"}
SAMPLES = [
    ("abusech/feodotracker_ipblocklist_2024-04-04.csv", FEODO_FULL),
    ("abusech/feodotracker_ipblocklist_2021-12-20.csv", FEODO),
    ("abusech/sslbl_sslipblacklist_2015-10-15.csv", {"ip": "DstIP", "port": "DstPort"}),
    ("other/shadowserver/shadowserver_scan_exchange.csv", {"ip": "ip", "port": "port", "threat": "tag"}),
    ("other/shadowserver/shadowserver_scan_rdp.csv", {"ip": "ip", "port": "port", "threat": "tag"}),
    ("other/shadowserver/shadowserver_botnet_drone.csv", {"ip": "ip", "port": "port", "malware": "infection"}),
    ("other/shadowserver/shadowserver_event4_sinkhole_http.csv", {"ip": "src_ip", "port": "src_port"}),
    ("other/blocklistde_imap_SANITIZED.txt", {"ip": "0"}),
]


def spec(columns: dict[str, str], feed_id: str = "list") -> FeedSpec:
    return make_feed_spec(feed_id, FeedFormat.CSV, FeedKind.COMPROMISE, columns)


def index_around(observations: list[Observation], seed: int = 5) -> MatchIndex:
    """An index whose networks hold some of these addresses (a /32, the /24 with the address first or last in
    it, a /16), with a benign range and an allowlist over some others."""
    rnd = random.Random(seed)
    addresses = sorted(
        {i.value for o in observations for i in o.indicators if i.type is IndicatorType.IPV4},
        key=lambda a: rnd.random(),
    )
    establishments: list[Establishment] = []
    benign: list[tuple[str, str]] = []
    allow: list[tuple[str, str]] = []
    for n, address in enumerate(addresses[: max(12, len(addresses) // 3)]):
        number = int(ipaddress.ip_address(address))
        shape = n % 6
        if shape == 0:
            net = f"{address}/32"
        elif shape == 1:
            net = f"{ipaddress.ip_address(number & ~0xFF)}/24"
        elif shape == 2:
            net = f"{ipaddress.ip_address(number & ~0xFFFF)}/16"
        elif shape == 3:
            benign.append((f"{ipaddress.ip_address(number & ~0xFFFF)}/16", "warninglist:cloud"))
            net = f"{address}/32"  # a declared host inside a benign range
        elif shape == 4:
            benign.append((f"{ipaddress.ip_address(number & ~0xFF)}/24", "warninglist:sinkholes"))
            continue
        else:
            allow.append((address, "our scanner"))
            continue
        establishments.append(Establishment(f"e{n}", f"E{n}", networks=(ipaddress.ip_network(net, strict=False),)))
    registry = Registry(MappingProxyType({e.id: e for e in establishments}), ())
    return MatchIndex(registry, BenignLists.from_entries(networks=benign), Allowlist.from_entries(allow))


def same(result: MatchResult) -> tuple[object, ...]:
    return (result.findings, result.suppressed, result.not_affected)


def assert_same(feed: FeedSpec, body: bytes, index: MatchIndex | None = None) -> csvfeed.Sifted | None:
    """Both paths on one body; returns the bulk result (None: the bulk path declined, the row path reads it)."""
    try:
        rows = csvfeed.read(feed, body)
    except ParseError as exc:
        for count, bulk_from in ((True, 0), (False, 0), (False, sys.maxsize)):
            with pytest.raises(ParseError) as caught:
                csvfeed.read_sifted(
                    feed, body, lambda addresses: (range(len(addresses)), ()), counted=count, bulk_from=bulk_from
                )
            assert str(caught.value) == str(exc)
        return None
    index = index or index_around(rows.observations)
    counted = csvfeed.read_sifted(feed, body, partial(v4_sifted, index), counted=True)
    quick = csvfeed.read_sifted(feed, body, partial(v4_sifted, index), bulk_from=sys.maxsize)
    bulk = csvfeed.read_sifted(feed, body, partial(v4_sifted, index), bulk_from=0)  # rows read as arrays
    assert (counted is None) == (quick is None)
    if counted is None or quick is None:
        assert bulk is None
        return None
    assert bulk is not None
    assert (bulk.rows, bulk.skipped, bulk.entries, bulk.duplicates) == (
        quick.rows,
        quick.skipped,
        quick.entries,
        quick.duplicates,
    )
    # (it may build more rows than the row-wise sieve: those it leaves to the row path, which give nothing more)
    assert same(index.match(bulk.observations)) == same(index.match(quick.observations))
    assert (counted.rows, counted.skipped, counted.duplicates) == (rows.rows, rows.skipped, rows.duplicates)
    assert counted.entries == len(rows.observations)
    assert (quick.rows, quick.skipped) == (rows.rows, rows.skipped)
    expected = same(index.match(rows.observations))
    assert same(index.match(counted.observations)) == expected
    assert same(index.match(quick.observations)) == expected
    assert same(index.match(sifted(feed, body, index) or [])) == expected  # as the dry run wires it
    return quick


@pytest.mark.parametrize(("name", "columns"), SAMPLES, ids=[name for name, _ in SAMPLES])
def test_every_real_sample_gives_the_same_findings(name: str, columns: dict[str, str]) -> None:
    body = (DATA / name).read_bytes()
    result = assert_same(spec(columns), body)
    assert result is not None and result.observations  # the bulk path read it, and some rows hit


@pytest.mark.skipif(not (SHARED / "feeds").exists(), reason="the shared feed samples are not beside the checkout")
@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("more/csv_feodotracker_ipblocklist_2021-12-20.csv", FEODO),
        ("abusech/feodotracker_ipblocklist_2024-04-04.csv", FEODO_FULL),
        ("abusech/sslbl_sslipblacklist_2015-10-15.csv", {"ip": "DstIP", "port": "DstPort"}),
        ("other/shadowserver/shadowserver_botnet_drone.csv", {"ip": "ip", "port": "port", "malware": "infection"}),
    ],
)
def test_the_shared_samples_give_the_same_findings(name: str, columns: dict[str, str]) -> None:
    assert assert_same(spec(columns), (SHARED / "feeds" / name).read_bytes()) is not None


# Nested networks, IPv6, a host declared inside a benign range, a lone /32.
NETWORKS = {
    "a": "147.210.0.0/16",
    "b": "147.210.8.0/24",
    "c": "2001:660:6101::/48",
    "d": "52.1.2.0/28",
    "e": "81.2.3.4/32",
}
REGISTRY = Registry(
    MappingProxyType(
        {k: Establishment(k, k.upper(), networks=(ipaddress.ip_network(n),)) for k, n in NETWORKS.items()}
    ),
    (),
)
INDEX = MatchIndex(
    REGISTRY,
    BenignLists.from_entries(networks=[("52.0.0.0/11", "warninglist:cloud"), ("8.8.8.0/24", "warninglist:dns")]),
    Allowlist.from_entries([("147.210.99.0/24", "our scanner")]),
)
HEADER = FEODO_HEADER
EDGES = [
    "147.210.8.0",  # first address of b's /24 (and in a's /16)
    "147.210.8.255",  # last address of b's /24
    "147.210.7.255",  # just before it: a's /16 only
    "147.209.255.255",  # just before a's /16: nothing
    "147.211.0.0",  # just after it: nothing
    "147.210.99.7",  # the allowlist
    "52.1.2.0",  # a declared host inside a benign range
    "52.1.2.16",  # just after it: the benign range
    "52.0.0.0",  # the first address of the benign range
    "8.8.8.8",
    "10.1.2.3",  # private
    "127.0.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "81.2.3.4",
    "81.2.3.5",
]
ODD_CELLS = [
    "2001:660:6101::1",  # IPv6, hit
    "2001:660:6102::1",  # IPv6, nothing
    "147.210.8.9:8443",  # ip:port
    "[2001:660:6101::2]:443",
    "147.210.8.0/25",  # a CIDR in the address column
    "147.210.8.9 ",  # spaces
    " 81.2.3.4",
    "010.1.2.3",  # leading zeros: not an address to either path
    "147.210.8.09",
    "147[.]210[.]8[.]10",  # defanged
    "not an address",
    "",
    "1.2.3",
    "81.2.3.4.",
]


def generated(seed: int, count: int = 400) -> list[str]:
    drawn = [(0.4, EDGES), (0.55, ODD_CELLS)]
    return [HEADER, *feodo_rows(seed, count, drawn, (147, 52, 81, 8, 200), ("443", "8080", "", " 443", "x"))]


@pytest.mark.parametrize("seed", range(8))
def test_generated_lists_with_every_kind_of_row(seed: int) -> None:
    lines = generated(seed)
    rnd = random.Random(seed)
    for _ in range(6):  # ragged, malformed and comment rows among the others
        at = rnd.randrange(1, len(lines))
        malformed = (
            '"2024-03-01","147.210.8.1"',
            '"x","147.210.8.2"x,"4",1,2,3',
            "# a comment",
            "   ",
            ",,,",
            "\x00,1",
        )
        lines.insert(at, rnd.choice(malformed))
    body = "\n".join(lines).encode()
    result = assert_same(spec(FEODO_FULL), body, INDEX)
    assert result is not None
    assert_same(spec(FEODO_FULL), body.replace(b"\n", b"\r\n"), INDEX)
    assert_same(spec(FEODO_FULL), body.replace(b"\n", b"\r"), INDEX)


def test_repeated_rows_count_as_the_row_path_counts_them() -> None:
    lines = [HEADER, row("147.210.8.1"), row("147.210.8.1"), row("147.210.8.1", "80"), row("200.1.1.1")]
    lines += [row("200.1.1.1"), row("147.210.8.1:9", "443"), row("147.210.8.1 ", "443"), row("200.1.1.1:1")]
    lines += [row("200.1.1.1 "), row("81.2.3.4", " 443"), row("81.2.3.4", "443")]
    counted = assert_same(spec(FEODO_FULL), "\n".join(lines).encode(), INDEX)
    assert counted is not None
    rows = csvfeed.read(spec(FEODO_FULL), "\n".join(lines).encode())
    assert rows.duplicates == 7  # an ip:port cell or a padded one repeats the plain row


def test_a_nul_in_an_address_cell_skips_its_row_in_both() -> None:
    lines = [HEADER, row("147.210.8.1"), row("147.210.8.2\x00"), row("200.1.1.1")]
    assert assert_same(spec(FEODO_FULL), "\n".join(lines).encode(), INDEX) is not None
    assert assert_same(spec({"ip": "0"}), b"147.210.8.1\n5.6.7.8\x00\n147.210.8.3\n", INDEX) is not None


def test_a_positional_list_without_a_header() -> None:
    lines = ["# one address a line", *EDGES, *ODD_CELLS, "147.210.8.7", "147.210.8.7"]
    assert assert_same(spec({"ip": "0"}), "\n".join(lines).encode(), INDEX) is not None
    assert assert_same(spec({"ip": "0"}), "\n".join(f"{a};x" for a in lines).encode(), INDEX) is not None


def test_over_long_lines_are_skipped_by_both() -> None:
    long_row = row("147.210.8.3", "4" * (csvfeed.MAX_LINE + 1))
    body = "\n".join([HEADER, row("147.210.8.1"), long_row, row("200.1.1.1")]).encode()
    result = assert_same(spec(FEODO_FULL), body, INDEX)
    assert result is not None and result.skipped == 1


def test_unreadable_bodies_fail_alike() -> None:
    for body in (
        b"",
        b"# only comments\n",
        f"{HEADER}\n{row('not an address')}\n{row('')}".encode(),
        b"dst_port\n443\n",
        ("x" * (csvfeed.MAX_LINE + 5)).encode(),
    ):
        assert_same(spec(FEODO_FULL), body, INDEX)


def test_a_header_alone_gives_nothing() -> None:
    result = assert_same(spec(FEODO_FULL), f"# banner\n{HEADER}\n# END 0 entries".encode(), INDEX)
    assert result is not None and not result.observations and result.rows == 0


def nothing(addresses: csvfeed.Addresses) -> tuple[list[int], list[int]]:
    return [], []


def test_what_the_bulk_path_leaves_to_the_row_path() -> None:
    lines = [HEADER, row("147.210.8.1"), '"2024-03-01 10:00:00","147.210.8.2","443","on', 'line",""', row("1.1.1.1")]
    body = "\n".join(lines).encode()
    # A quoted cell running over a line break: the row path reads those lines one by one.
    assert csvfeed.read_sifted(spec(FEODO_FULL), body, partial(v4_sifted, INDEX)) is None
    # Other indicator columns, CIDRs with their prefix: read by the row path.
    assert csvfeed.read_sifted(spec({"url": "0", "ip": "1"}), b"http://a.example/,1.2.3.4", nothing) is None
    assert csvfeed.read_sifted(spec({"cidr": "0", "prefix": "1"}), b"1.2.3.0,24", nothing) is None
    # More rows than max_entries: the row path decides which it reads.
    many = "\n".join([HEADER, *(row(f"200.1.1.{n}") for n in range(10))]).encode()
    small = replace(spec(FEODO_FULL), max_entries=5)
    assert csvfeed.read_sifted(small, many, nothing) is None
    # The same through the array read (bulk_from=0), and a hostile list of short lines that are no address,
    # given up by the array read itself (csvbulk.TooManyRows) rather than after holding every row.
    assert csvfeed.read_sifted(small, many, nothing, bulk_from=0) is None
    hostile = "\n".join([HEADER, *(["x"] * 10)]).encode()
    assert csvfeed.read_sifted(small, hostile, nothing, bulk_from=0) is None


def test_a_plain_cell_is_the_indicator_the_row_path_makes() -> None:
    # The bulk path takes a cell inet_pton reads as it is: the row path must make the same value of it.
    for text in ["0.0.0.0", "1.2.3.4", "255.255.255.255", "147.210.8.0", *EDGES]:
        [observation] = csvfeed.parse(spec({"ip": "0"}), text.encode())
        assert observation.indicators[0].value == text
    for text in ["010.1.2.3", "1.2.3.04", "1.2.3", "1.2.3.4 ", "256.1.1.1", "0x1.2.3.4", "١.2.3.4", "1.2.3.4:80"]:
        seen: list[int] = []

        def sieve(addresses: csvfeed.Addresses, seen: list[int] = seen) -> tuple[list[int], list[int]]:
            seen.extend(int(a) for a in addresses)
            return [], []

        assert csvfeed.read_sifted(spec({"ip": "0"}), f"1.1.1.1\n{text}".encode(), sieve) is not None
        assert seen == [0x01010101]  # the other cell is read by the row path


def test_v4_sifted_tells_hits_from_set_aside_addresses_in_order() -> None:
    addresses = [int(ipaddress.ip_address(a)) for a in EDGES]
    hits, held = v4_sifted(INDEX, addresses)
    assert [EDGES[i] for i in hits] == [a for a in EDGES if isinstance(INDEX.addresses.lookup(a)[0], tuple)]
    assert [EDGES[i] for i in held] == [a for a in EDGES if isinstance(INDEX.addresses.lookup(a)[0], str)]
    assert "147.210.8.255" in [EDGES[i] for i in hits] and "10.1.2.3" in [EDGES[i] for i in held]
    assert "147.209.255.255" not in [EDGES[i] for i in hits + held]


def test_a_set_aside_row_is_told_as_the_row_path_tells_it() -> None:
    lines = [HEADER, row("52.1.2.16", "443"), row("10.1.2.3", ""), row("147.210.99.7", " 8080 ")]
    body = "\n".join(lines).encode()
    quick = csvfeed.read_sifted(spec(FEODO_FULL), body, partial(v4_sifted, INDEX))
    assert quick is not None
    expected = INDEX.match(csvfeed.read(spec(FEODO_FULL), body).observations).suppressed
    assert INDEX.match(quick.observations).suppressed == expected and len(expected) == 3


def test_the_bulk_path_gives_the_same_across_its_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Steps of a few lines: every line break of the body falls at some step's edge.
    monkeypatch.setattr(csvbulk, "STEP", 53)
    for seed in range(3):
        body = "\n".join(["# banner", *generated(seed)]).encode()
        assert assert_same(spec(FEODO_FULL), body, INDEX) is not None
