"""The findings attached as CSV and JSON: values defanged as the email shows them, raw copies beside them for tools,
no spreadsheet formula."""

from __future__ import annotations

from email.message import EmailMessage

from builders import (
    IPV4,
    IPV6,
    bodies,
    make_alert,
    many_alerts,
    parsed,
    render,
)

from alertd.domain.facts import Fact, Facts, VersionFact
from alertd.render.attachments import FINDING_FIELDS, findings_csv


def _attachments(msg: EmailMessage) -> tuple[str, str]:
    back = parsed(msg)
    _alternative, table, document = back.iter_parts()
    assert table.get_filename() == "findings.csv" and document.get_filename() == "findings.json"
    assert table.get_content_disposition() == document.get_content_disposition() == "attachment"
    csv_text, json_bytes = table.get_content(), document.get_content()
    assert isinstance(csv_text, str) and isinstance(json_bytes, bytes)
    assert table.get_content_charset() == "utf-8"
    assert csv_text.startswith("\ufeffseverity,")  # the BOM Excel needs to read UTF-8
    return csv_text.removeprefix("\ufeff"), json_bytes.decode("utf-8")


def test_the_findings_are_attached_defanged_with_raw_copies() -> None:
    import csv
    import io
    import json

    alerts = many_alerts()
    msg = render(alerts, language="en")
    csv_text, json_text = _attachments(msg)
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    document = json.loads(json_text)
    assert document["tlp"] == "TLP:AMBER"
    assert document["establishment"] == {"id": "330781196", "name": "CHU de Bordeaux"}
    findings = document["findings"]
    assert len(rows) == len(findings) == len(alerts)
    for row, finding in zip(rows, findings, strict=True):
        assert list(row) == list(FINDING_FIELDS)
        assert {k: " ".join(v) if k == "warnings" else v for k, v in finding.items() if k in FINDING_FIELDS} == row
    # For tools: the values as the feed gave them.
    assert [r["indicator_raw"] for r in rows] == [
        "147.210.1.5",
        "2001:660:6101::5",
        "http://evil-cdn.example/payload.exe",
        "CVE-2023-4966",
        "vpn.chu-bordeaux.example",
        "phish@evil-mail.example",
    ]
    # For people: the same values as the email shows them.
    assert [r["indicator"] for r in rows] == [
        "147[.]210[.]1[.]5",
        "2001[:]660[:]6101[:][:]5",
        "hxxp://evil-cdn[.]example/payload[.]exe",
        "CVE-2023-4966",
        "vpn[.]chu-bordeaux[.]example",
        "phish[@]evil-mail[.]example",
    ]
    first = rows[0]
    assert first["severity"] == "imminent" and first["kind"] == "compromise" and first["type"] == "ipv4"
    assert first["reason"] == "address-in-network"
    assert first["asset_raw"] == "147.210.0.0/16" and first["asset"] == "147[.]210[.]0[.]0/16"
    assert first["feed"] == "feodo" and first["entry_raw"] == "feodo:147.210.1.5"
    assert first["entry"] == "feodo:147[.]210[.]1[.]5" and first["warnings"] == ""
    assert first["first_seen"] == "2025-03-11T13:05:00+00:00" and first["last_seen"] == "2025-03-12T13:05:00+00:00"
    # abuse.ch's own page: a known source's, shown as it is.
    assert first["link"] == first["link_raw"] == "https://feodotracker.abuse.ch/browse/"
    assert findings[0]["details"] == findings[0]["details_raw"] == {"malware": "QakBot", "port": "443"}
    # The raw values never reach the parts a person reads.
    text, html = bodies(msg)
    for raw in ("147.210.1.5", "evil-cdn.example", "evil-mail.example", "chu-bordeaux.example"):
        assert raw in csv_text and raw in json_text
        assert raw not in text and raw not in html


def test_a_host_in_the_details_is_defanged_and_raw() -> None:
    import json

    facts = Facts(malware="Emotet", website="leak.example.org")
    _csv, json_text = _attachments(render([make_alert(IPV4, facts=facts)], language="en"))
    finding = json.loads(json_text)["findings"][0]
    assert finding["details_raw"]["website"] == "leak.example.org"
    assert finding["details"]["website"] == "leak[.]example[.]org"


def test_csv_cells_cannot_start_a_spreadsheet_formula() -> None:
    alerts = [
        make_alert(IPV4, title='=HYPERLINK("http://x.example","click")', feed="+feed"),
        make_alert(IPV6, title="@SUM(A1:A2)", feed="-cmd", asset="2001:660:6101::/48"),
    ]
    csv_text, json_text = _attachments(render(alerts, language="en"))
    assert "'=HYPERLINK(" in csv_text and "'@SUM(A1:A2)" in csv_text
    assert "'+feed" in csv_text and "'-cmd" in csv_text
    for line in csv_text.splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@"))
    assert '"title": "=HYPERLINK(' in json_text  # JSON is data, not a spreadsheet: left as it was


def test_findings_csv_quotes_and_prefixes() -> None:
    record = dict.fromkeys(FINDING_FIELDS, "plain")
    record.update(title='a "quoted", title', asset="-1", link="=cmd|' /C calc'!A0")
    table = findings_csv([record])
    header, line = table.removeprefix("\ufeff").split("\r\n")[:2]
    assert header == ",".join(FINDING_FIELDS)
    assert '"a ""quoted"", title"' in line and ",'-1," in line and "'=cmd|' /C calc'!A0" in line


def test_the_details_are_the_known_facts_in_the_feed_order_without_extra_or_version() -> None:
    import json

    # A CSV blocklist whose operator mapped the port column before the status and malware columns; an extra
    # column (the country) is not for the reader.
    given: dict[Fact | str, str] = {"port": "8443", "status": "online", Fact.MALWARE: "Pikabot", "country": "DE"}
    facts = Facts.of(given).with_version(VersionFact.declared_as("1.0"))
    _csv, json_text = _attachments(render([make_alert(IPV4, facts=facts)], language="en"))
    details = json.loads(json_text)["findings"][0]["details"]
    assert list(details.items()) == [("port", "8443"), ("status", "online"), ("malware", "Pikabot")]
