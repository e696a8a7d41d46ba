"""Hostile and broken feeds, all polled alongside a good one: each fails alone, clearly, and is counted.

Every feed here is served by a real HTTP server on 127.0.0.1; the real ``alertd`` command polls them all in
one cycle. The good feed must still reach its establishment.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory, SmtpTestServer

FEODO = {"ip": "dst_ip", "port": "dst_port", "malware": "malware"}

# feed id → (path on the server, format, extra feed keys, what the failure must say; None: may parse)
HOSTILE: dict[str, tuple[str, str, str, str | None]] = {
    "billion-laughs": ("/data/rss/billion_laughs.xml", "rss", "", "entit"),
    "xxe": ("/data/rss/xxe_file.xml", "rss", "", "entit"),
    "huge-body": ("/huge", "csv", "", "max_bytes"),
    "trickle": ("/trickle", "csv", "timeout: 3", "timed out"),
    "http-500": ("/500", "csv", "", "HTTP 500"),
    "http-404": ("/404", "csv", "", "HTTP 404"),
    "redirect-loop": ("/loop-a", "csv", "", "redirect"),
    "truncated-json": ("/truncated.json", "cisa-kev", "", "JSON"),
    "empty-body": ("/empty.csv", "csv", "", "empty"),
    "html-as-rss": ("/data/rss/html_error_page.xml", "rss", "", "not an RSS or Atom feed"),
    "lying-charset": ("/lying.xml", "rss", "", None),
    "ragged-csv": ("/ragged.csv", "csv", "", None),
}

LYING = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
    b"<item><guid>1</guid><title>Alerte s\xe9curit\xe9 \xff\xfe 84.247.157.200</title></item></channel></rss>"
)
RAGGED = b"ip,port,malware\n84.247.157.201,443,QakBot\n84.247.157.202\n,,\n84.247.157.203,80,Emotet,extra\n"


def feeds_yaml(server: FeedServer) -> str:
    lines = ["feeds:"]
    good = server.url("/data/abusech/feodotracker_ipblocklist_2024-04-04.csv")
    lines += [f"  - {{id: good-feodo, url: '{good}', format: csv, interval: 30m, columns: {json.dumps(FEODO)}}}"]
    for feed_id, (path, fmt, extra, _) in HOSTILE.items():
        columns = f", columns: {json.dumps(FEODO if fmt == 'csv' and 'ragged' not in feed_id else {'ip': 'ip'})}"
        lines.append(
            f"  - {{id: {feed_id}, url: '{server.url(path)}', format: {fmt}, interval: 30m"
            f"{columns if fmt == 'csv' else ''}{', ' + extra if extra else ''}}}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def world(tmp_path: Path, smtp_server: SmtpServerFactory) -> Iterator[tuple[Path, SmtpTestServer]]:
    server = FeedServer()
    server.serve_dir("/data/", DATA)
    server.stream("/huge", 100 * 1024 * 1024)
    server.trickle("/trickle", b"ip\n" + b"1" * 200, interval=1.0)
    server.route("/500", b"oops", status=500)
    server.route("/404", b"not here", status=404)
    server.redirect("/loop-a", "/loop-b")
    server.redirect("/loop-b", "/loop-a")
    kev = (DATA / "kev/known_exploited_vulnerabilities.json").read_bytes()
    server.route("/truncated.json", kev[: len(kev) // 2], headers={"Content-Type": "application/json"})
    server.route("/empty.csv", b"")
    server.route("/lying.xml", LYING, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    server.route("/ragged.csv", RAGGED)
    smtp = smtp_server(tls="starttls")
    with server:
        yield write_config(tmp_path, feeds_yaml(server), smtp), smtp


def test_each_hostile_feed_fails_alone_and_the_good_one_goes_through(world: tuple[Path, SmtpTestServer]) -> None:
    config, smtp = world
    result = alertd(config, "run", "--once")
    assert result.returncode == 3, result.stdout + result.stderr
    assert re.search(r"^  good-feodo +28 entries", result.stdout, re.MULTILINE), result.stdout

    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "feed failed"]
    for feed_id, (_, _, _, says) in HOSTILE.items():
        mine = [e for e in failed if e["feed"] == feed_id]
        if says is None:
            assert len(mine) <= 1  # may parse, may fail: never crash, never more than one event
            continue
        assert len(mine) == 1, (feed_id, mine)
        assert says.lower() in mine[0]["error"].lower(), (feed_id, mine[0]["error"])
        assert re.search(rf"^  {re.escape(feed_id)} +FAILED: ", result.stdout, re.MULTILINE), feed_id

    # The ragged CSV keeps every row with an address (the blank one is skipped); the lying charset still
    # yields its entry and the address in it.
    assert re.search(r"^  ragged-csv +3 entries", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^  lying-charset +1 entries \(1 new\), 1 findings", result.stdout, re.MULTILINE)
    # The good feeds' findings reached their establishments: one email each.
    assert sorted(m.rcpt_tos for m in smtp.messages) == [("rssi@chu-test.example",), ("security@clinic-test.example",)]

    db = sqlite3.connect(config.parent / "state" / "alertd.sqlite3")
    counts = dict(db.execute("SELECT feed, consecutive_failures FROM feed_state").fetchall())
    assert counts["good-feodo"] == 0
    assert all(counts[f] == 1 for f, v in HOSTILE.items() if v[3] is not None)

    # A second cycle counts a second failure in a row for each.
    alertd(config, "run", "--once")
    counts = dict(db.execute("SELECT feed, consecutive_failures FROM feed_state").fetchall())
    assert all(counts[f] == 2 for f, v in HOSTILE.items() if v[3] is not None)
    db.close()
