"""Feeds published as an index: a MISP feed's manifest.json and a CSAF provider's index.txt, over HTTP on
loopback — the documents they list are fetched and parsed, and a broken one does not sink the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory

MISP = DATA / "misp" / "redblue232_crowdsec_feed"
PACS = DATA / "csaf" / "icsma-24-200-01.json"


def test_misp_manifest_and_csaf_index(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    event = json.loads((MISP / "d177856e-6e46-44ee-8eb5-83ef1c7452c7.json").read_text())["Event"]
    first_ip = next(a["value"] for a in event["Attribute"] if a["type"] == "ip-src" and a["to_ids"])
    provider = tmp_path / "csaf"
    (provider / "2024").mkdir(parents=True)
    for advisory in (DATA / "csaf").glob("*.json"):
        shutil.copy(advisory, provider / "2024" / advisory.name)
    (provider / "2024" / "broken.json").write_text('{"document": {')
    (provider / "index.txt").write_text(
        "\n".join(f"2024/{p.name}" for p in sorted((provider / "2024").iterdir())) + "\n../../etc/passwd.json\n"
    )
    (tmp_path / "extra.yaml").write_text(
        "establishments:\n  - id: e-pacs\n    name: Clinique du Scanner\n"
        "    contacts: [{email: pacs@scanner.example}]\n"
        "    software: [{vendor: Philips, product: Vue PACS, version: '12.2.1'}]\n"
        f"    networks: [{first_ip}/32]\n"
    )
    with FeedServer() as server:
        server.serve_dir("/misp/", MISP)
        server.serve_dir("/csaf/", provider)
        feeds = (
            "feeds:\n"
            f"  - {{id: crowdsec, url: '{server.url('/misp/manifest.json')}', format: misp, interval: 1h}}\n"
            f"  - {{id: cisa-csaf, url: '{server.url('/csaf/index.txt')}', format: csaf, interval: 1h}}\n"
        )
        config = write_config(tmp_path, feeds, smtp_server(tls="starttls"))
        registry = tmp_path / "establishments.yaml"
        registry.write_text(
            registry.read_text() + (tmp_path / "extra.yaml").read_text().removeprefix("establishments:\n")
        )
        result = alertd(config, "poll", "--dry-run")
        assert result.returncode == 0, result.stderr
        fetched = {r.path for path in ("/misp/", "/csaf/2024/") for r in server.requests_under(path)}

    manifest = json.loads((MISP / "manifest.json").read_text())
    assert {f"/misp/{uuid}.json" for uuid in manifest} <= fetched
    assert "/csaf/2024/broken.json" in fetched and not any("passwd" in p for p in fetched)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    # The establishment's own host, reported in an event the manifest listed, is matched.
    assert [r["establishment"] for r in records if r["feed"] == "crowdsec" and r["indicator"] == first_ip] == ["e-pacs"]
    pacs = json.loads(PACS.read_text())
    cves = {v["cve"] for v in pacs["vulnerabilities"]}
    found = {r["indicator"] for r in records if r.get("establishment") == "e-pacs" and r["reason"] == "cve-product"}
    assert found == cves and len(cves) == 13
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "feed document failed" and "broken.json" in e["document"] for e in logged)
