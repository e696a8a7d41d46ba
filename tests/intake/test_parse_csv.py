"""Delimited blocklists: abuse.ch layouts from the real samples, plain lists, and broken inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat, FeedSpec
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import csvfeed, parse_feed

FEODO = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
URLHAUS = DATA / "abusech" / "urlhaus_tld-ch_feed_2019-02-13.csv"
SSLBL_IP = DATA / "abusech" / "sslbl_sslipblacklist_2015-10-15.csv"
SSLBL = DATA / "abusech" / "sslbl_sslblacklist_2023-11-14.csv"
DROP = DATA / "other" / "spamhaus_drop_2015-09-14_excerpt.txt"
BLOCKLISTDE = DATA / "other" / "blocklistde_imap_SANITIZED.txt"
DSHIELD = DATA / "other" / "dshield_block_2026-08-22.txt"

FEODO_COLUMNS = {"ip": "dst_ip", "port": "dst_port", "first_seen": "first_seen_utc", "malware": "malware"}
URLHAUS_COLUMNS = {
    "url": "URL",
    "first_seen": "Dateadded (UTC)",
    "status": "URL_status",
    "threat": "Threat",
    "country": "Country",
}


def feed(columns: Mapping[str, str], feed_id: str = "feodo") -> FeedSpec:
    return make_feed_spec(feed_id, FeedFormat.CSV, FeedKind.COMPROMISE, columns)


def data_rows(path: Path, comment: str = "#") -> list[list[str]]:
    """An independent count: the file's non-comment, non-blank rows as the csv module reads them."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(comment)]
    return list(csv.reader(io.StringIO("\n".join(lines))))


# -- Feodo Tracker: banner, quoted header row, footer comment, no trailing newline ---------------------


def test_feodo_one_observation_per_row() -> None:
    body = FEODO.read_bytes()
    assert not body.endswith(b"\n")
    rows = data_rows(FEODO)
    assert rows[0][:2] == ["first_seen_utc", "dst_ip"]  # the header is a data line, quoted
    assert len(rows) - 1 == 28
    observations = csvfeed.parse(feed(FEODO_COLUMNS), body)
    assert len(observations) == 28
    assert [o.indicators for o in observations] == [(Indicator(IndicatorType.IPV4, r[1]),) for r in rows[1:]]


def test_feodo_first_and_last_rows() -> None:
    observations = csvfeed.parse(feed(FEODO_COLUMNS), FEODO.read_bytes())
    first, last = observations[0], observations[-1]
    assert first.feed == "feodo"
    assert first.kind is FeedKind.COMPROMISE
    assert first.indicators == (Indicator(IndicatorType.IPV4, "192.9.135.73"),)
    assert first.title == "Pikabot 192.9.135.73:1194"
    assert first.published == datetime(2023, 5, 23, 17, 51, 44, tzinfo=UTC)
    assert first.facts.to_json() == {"port": "1194", "malware": "Pikabot"}
    assert first.link is None
    assert len(first.entry) == 32
    assert last.indicators == (Indicator(IndicatorType.IPV4, "172.233.221.61"),)
    assert last.title == "Pikabot 172.233.221.61:5938"
    assert last.published == datetime(2024, 4, 4, 7, 3, 3, tzinfo=UTC)


def test_feodo_crlf_reads_the_same() -> None:
    body = FEODO.read_bytes()
    crlf = body.replace(b"\n", b"\r\n")
    assert crlf.count(b"\r\n") == body.count(b"\n") > 0
    assert csvfeed.parse(feed(FEODO_COLUMNS), crlf) == csvfeed.parse(feed(FEODO_COLUMNS), body)


def test_entry_is_stable_when_status_and_dates_change() -> None:
    columns = {**FEODO_COLUMNS, "status": "c2_status"}
    body = FEODO.read_bytes()
    changed = body.replace(b'"online"', b'"offline"').replace(b'"2024-04-04",', b'"2024-04-05",')
    assert changed != body
    before = csvfeed.parse(feed(columns), body)
    after = csvfeed.parse(feed(columns), changed)
    assert [o.entry for o in before] == [o.entry for o in after]
    assert before[0].facts.status == "online"
    assert after[0].facts.status == "offline"


def test_entry_depends_on_the_feed() -> None:
    body = FEODO.read_bytes()
    a = csvfeed.parse(feed(FEODO_COLUMNS, "feodo"), body)
    b = csvfeed.parse(feed(FEODO_COLUMNS, "feodo-mirror"), body)
    assert {o.entry for o in a}.isdisjoint({o.entry for o in b})


def test_through_the_format_table() -> None:
    assert len(parse_feed(feed(FEODO_COLUMNS), FEODO.read_bytes())) == 28


# -- header in the last comment line: URLhaus, SSLBL -----------------------------------------------------


def test_urlhaus_header_is_the_last_comment_line() -> None:
    rows = data_rows(URLHAUS)
    assert len(rows) == 2
    observations = csvfeed.parse(feed(URLHAUS_COLUMNS, "urlhaus-ch"), URLHAUS.read_bytes())
    assert len(observations) == len(rows)
    first = observations[0]
    assert first.indicators == (Indicator(IndicatorType.URL, "http://marconuenlist.ch/verif.accounts.docs.net/"),)
    assert first.published == datetime(2019, 2, 13, 0, 34, 42, tzinfo=UTC)
    assert first.facts.to_json() == {"status": "offline", "threat": "malware_download", "country": "DE"}
    assert first.title == "malware_download http://marconuenlist.ch/verif.accounts.docs.net/"
    assert observations[1].indicators[0].value == "http://cbd-planet.ch/sec.myacc.send.com/"


def test_urlhaus_several_indicator_columns() -> None:
    columns = {"url": "URL", "ip": "IPaddress", "asn": "ASnumber"}
    [first, _] = csvfeed.parse(feed(columns, "urlhaus-ch"), URLHAUS.read_bytes())
    assert set(first.indicators) == {
        Indicator(IndicatorType.URL, "http://marconuenlist.ch/verif.accounts.docs.net/"),
        Indicator(IndicatorType.IPV4, "62.241.37.242"),
        Indicator(IndicatorType.ASN, "29083"),
    }


def test_sslbl_ip_list_rows_wider_than_the_header() -> None:
    rows = data_rows(SSLBL_IP)
    assert len(rows) == 83
    assert {len(r) for r in rows} == {3}  # header says DstIP,DstPort; rows carry a third column
    observations = csvfeed.parse(feed({"ip": "DstIP", "port": "DstPort"}, "sslbl-ip"), SSLBL_IP.read_bytes())
    assert len(observations) == 83
    assert observations[0].indicators == (Indicator(IndicatorType.IPV4, "104.130.17.100"),)
    assert observations[0].title == "sslbl-ip 104.130.17.100:443"
    assert observations[-1].indicators == (Indicator(IndicatorType.IPV4, rows[-1][0]),)


def test_sslbl_real_crlf_file_with_hashes() -> None:
    body = SSLBL.read_bytes()
    assert b"\r\n" in body
    expected = data_rows(SSLBL)
    assert len(expected) == 5522
    columns = {"hash": "SHA1", "first_seen": "Listingdate", "malware": "Listingreason"}
    result = csvfeed.read(feed(columns, "sslbl"), body)
    unique = len({r[1].lower() for r in expected})
    assert (result.rows, result.skipped) == (5522, 0)
    assert len(result.observations) == unique
    assert result.duplicates == 5522 - unique
    first = result.observations[0]
    assert first.indicators == (Indicator(IndicatorType.HASH, "2e3519b7cb61a3cd6167f727df993f68311085ea"),)
    assert first.facts.malware == "DCRat C&C"
    assert not any("\r" in v for o in result.observations for v in o.facts.to_json().values())


# -- header detection ------------------------------------------------------------------------------------


def test_missing_columns_are_named_with_the_columns_available() -> None:
    with pytest.raises(ParseError) as caught:
        csvfeed.parse(feed({"ip": "ip_address", "port": "dst_port"}), FEODO.read_bytes())
    message = str(caught.value)
    assert "'feodo'" in message
    assert "missing: ip_address" in message
    assert "first_seen_utc, dst_ip, dst_port, c2_status, last_online, malware" in message


def test_missing_columns_mentions_the_last_comment_line() -> None:
    with pytest.raises(ParseError, match=r"Dateadded \(UTC\), URL, URL_status") as caught:
        csvfeed.parse(feed({"url": "link"}, "urlhaus-ch"), URLHAUS.read_bytes())
    assert "missing: link" in str(caught.value)


def test_header_names_compared_without_spaces_quotes_or_case() -> None:
    body = b'# banner\n "IP" , Port ,Malware\n198.51.100.1,443,Emotet\n'
    [only] = csvfeed.parse(feed({"ip": " ip", "port": "'PORT'", "malware": "malware"}), body)
    assert only.indicators == (Indicator(IndicatorType.IPV4, "198.51.100.1"),)
    assert only.facts.to_json() == {"port": "443", "malware": "Emotet"}


def test_tab_separated_with_header() -> None:
    body = b"#comment\nip\tmalware\n198.51.100.1\tQakBot\n198.51.100.2\tQakBot\n"
    observations = csvfeed.parse(feed({"ip": "ip", "malware": "malware"}), body)
    assert [o.title for o in observations] == ["QakBot 198.51.100.1", "QakBot 198.51.100.2"]


def test_header_only_feed_is_empty_not_an_error() -> None:
    body = FEODO.read_bytes().split(b'\n"2023')[0] + b"\n# END 0 entries"
    assert csvfeed.parse(feed(FEODO_COLUMNS), body) == []


def test_comment_only_feed_is_empty() -> None:
    assert csvfeed.parse(feed(FEODO_COLUMNS), b"# nothing listed today\n#\n") == []


# -- damaged rows and bodies -----------------------------------------------------------------------------


def test_ragged_and_invalid_rows_are_skipped_and_counted() -> None:
    body = (
        b'"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
        b'"2024-02-08 19:20:49","85.239.243.155","5000","offline","2024-03-11","Pikabot"\n'
        b'"2024-02-08 19:50:53","37.60.242.85"\n'  # too short: lacks dst_port and malware
        b'"2024-02-09 06:56:00","not-an-ip","2078","offline","2024-03-11","Pikabot"\n'
        b'"2024-02-09 06:56:00","","2078","offline","2024-03-11","Pikabot"\n'
        b'"2024-02-09 16:29:51","23.226.138.143","2083","offline","2024-03-09","Pikabot","extra"\n'
        b'"2024-02-08 19:20:49","85.239.243.155","5000","online","2024-03-12","Pikabot"\n'  # the same C2 again
    )
    result = csvfeed.read(feed(FEODO_COLUMNS), body)
    assert [o.indicators[0].value for o in result.observations] == ["85.239.243.155", "23.226.138.143"]
    assert (result.rows, result.skipped, result.duplicates) == (6, 3, 1)


def test_overlong_lines_are_skipped() -> None:
    body = b"ip,malware\n198.51.100.1,x\n" + b"198.51.100.2," + b"A" * (70 * 1024) + b"\n198.51.100.3,y"
    result = csvfeed.read(feed({"ip": "ip", "malware": "malware"}), body)
    assert [o.indicators[0].value for o in result.observations] == ["198.51.100.1", "198.51.100.3"]
    assert result.skipped == 1


def test_bom_and_latin1_fallback() -> None:
    body = "\ufeffip,threat\n198.51.100.1,Hôpital ciblé\n".encode()
    [utf8] = csvfeed.parse(feed({"ip": "ip", "threat": "threat"}), body)
    assert utf8.facts.extra["threat"] == "Hôpital ciblé"
    [latin1] = csvfeed.parse(
        feed({"ip": "ip", "threat": "threat"}), "ip,threat\n198.51.100.1,Hôpital\n".encode("latin-1")
    )
    assert latin1.facts.extra["threat"] == "Hôpital"


def test_timestamps() -> None:
    body = (
        b"ip,seen\n"
        b"198.51.100.1,2024-02-08 19:20:49 UTC\n"
        b"198.51.100.2,2024-02-08T19:20:49+01:00\n"
        b"198.51.100.3,2024-02-08\n"
        b"198.51.100.4,yesterday\n"
        b"198.51.100.5,\n"
    )
    observations = csvfeed.parse(feed({"ip": "ip", "first_seen": "seen"}), body)
    assert [o.published for o in observations] == [
        datetime(2024, 2, 8, 19, 20, 49, tzinfo=UTC),
        datetime(2024, 2, 8, 18, 20, 49, tzinfo=UTC),
        datetime(2024, 2, 8, tzinfo=UTC),
        None,
        None,
    ]
    assert observations[3].facts.first_seen == "yesterday"  # kept when it cannot be read as a date
    assert "first_seen" not in observations[0].facts.to_json()


@pytest.mark.parametrize("body", [b"", b"   \r\n\n"])
def test_empty_body_is_an_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        csvfeed.parse(feed(FEODO_COLUMNS), body)


def test_html_error_page_is_an_error() -> None:
    body = b"<html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>"
    with pytest.raises(ParseError, match="missing: dst_ip"):
        csvfeed.parse(feed(FEODO_COLUMNS), body)


def test_rows_none_of_which_is_readable_is_an_error() -> None:
    with pytest.raises(ParseError, match="none of the 28 rows"):
        csvfeed.parse(feed({"ip": "malware"}), FEODO.read_bytes())


def test_columns_without_an_indicator_role_is_an_error() -> None:
    with pytest.raises(ParseError, match="no indicator column"):
        csvfeed.parse(feed({"malware": "malware"}), FEODO.read_bytes())


# -- header-less lists mapped by position (issue #3) ----------------------------------------------------


def test_spamhaus_drop_by_position() -> None:
    expected = [line for line in DROP.read_text().splitlines() if line.strip() and not line.startswith(";")]
    observations = csvfeed.parse(feed({"cidr": "0", "sbl": "1"}, "drop"), DROP.read_bytes())
    assert len(observations) == len(expected) == 2
    assert observations[0].indicators == (Indicator(IndicatorType.CIDR, "1.4.0.0/17"),)
    assert observations[0].facts.extra["sbl"] == "SBL256893"
    assert observations[1].indicators == (Indicator(IndicatorType.CIDR, "2a06:e480::/29"),)


def test_blocklist_de_one_address_per_line() -> None:
    expected = [line.strip() for line in BLOCKLISTDE.read_text().splitlines() if line.strip()]
    observations = csvfeed.parse(feed({"ip": "0"}, "blocklistde"), BLOCKLISTDE.read_bytes())
    assert [o.indicators[0].value for o in observations] == expected
    assert observations[0].title == "blocklistde 192.0.2.4"


def test_dshield_tab_separated_with_prefix() -> None:
    rows = [line.split("\t") for line in DSHIELD.read_text().splitlines() if line and not line.startswith("#")]
    assert len(rows) == 20
    columns = {"cidr": "0", "prefix": "2", "network": "4", "country": "5"}
    observations = csvfeed.parse(feed(columns, "dshield"), DSHIELD.read_bytes())
    assert [o.indicators[0].value for o in observations] == [f"{r[0]}/{r[2]}" for r in rows]
    assert observations[1].facts.extra["network"] == "MULTA-ASN1"
    assert observations[1].facts.extra["country"] == "US"
