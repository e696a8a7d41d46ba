"""Feedback into the policy (contract §4, "Acknowledgements"; §5, ``alertd inhibitions``): a "not us" response
posted through an email's page proposes an inhibition; the real ``alertd`` lists it, accepts it into
``inhibitions.yaml`` (which ``alertd check`` then passes) or rejects it; an accepted one holds the same finding back
on the next poll; nothing is ever inhibited without the operator."""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from configs import ack_links, alertd, example_with_web

from alertd.config.files import load_config
from alertd.config.inhibitions_append import append_inhibition
from alertd.domain.errors import ConfigError
from alertd.domain.routing import Inhibition
from alertd.service.ackweb import AckWeb
from alertd.service.setup import Prepared, prepare
from alertd.store.acks import AckBook

BASE = "https://alertes.cert-sante.example/reponse"
COMMENT = 'Adresse de notre Wi-Fi invités # pas un serveur, "rien" à voir'


class Page:
    """The acknowledgement page served in the test's process, on the store ``alertd run --once`` wrote."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.prepared: Prepared = prepare(load_config(config))
        settings = self.prepared.config.settings
        self.state = settings.state_dir / "alertd.sqlite3"
        self.inhibitions = settings.inhibitions_file
        self.links = ack_links(settings.maildir, BASE)
        self.book = AckBook(self.state)
        assert settings.web is not None
        self.web = AckWeb(settings.web, self.book, lambda: self.prepared)
        self.web.start()

    def answer(self, url: str, response: str, comment: str = "") -> None:
        """GET the page as a reader does, then POST its form with ``response``."""
        parts = urlsplit(self.web.url)
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=10)
        try:
            conn.request("GET", urlsplit(url).path)
            html = conn.getresponse().read().decode()
            form = html.split('name="form" value="', 1)[1].split('"', 1)[0]
            body = urlencode({"form": form, "response": response, "comment": comment})
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            conn.request("POST", urlsplit(url).path, body=body, headers=headers)
            answered = conn.getresponse()
            assert answered.status == 200, answered.read()
            answered.read()
        finally:
            conn.close()

    def proposals(self) -> list[sqlite3.Row]:
        db = sqlite3.connect(self.state)
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM proposals ORDER BY id").fetchall()
        finally:
            db.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    config = example_with_web(tmp_path_factory.mktemp("feedback") / "config", BASE, rate_limit="1000/minute")
    ran = alertd(config, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    p = Page(config)
    yield p
    p.web.stop()
    p.book.close()


def listed(page: Page) -> list[list[str]]:
    shown = alertd(page.config, "inhibitions", "proposed")
    assert shown.returncode == 0, shown.stderr
    return [line.split("\t") for line in shown.stdout.splitlines()]


def polled(page: Page) -> list[dict[str, str]]:
    ran = alertd(page.config, "poll", "--dry-run")
    assert ran.returncode == 0, ran.stderr
    return [json.loads(line) for line in ran.stdout.splitlines()]


def test_only_a_not_us_response_proposes(page: Page) -> None:
    reference, url = list(page.links.items())[-1]
    for response in ("seen", "fixed", "need-help"):
        page.answer(url, response, "rien à proposer")
    assert [p for p in page.proposals() if p["reference"] == reference] == []


def test_a_not_us_response_once_accepted_holds_the_finding_back(page: Page) -> None:
    reference, url = next(iter(page.links.items()))
    before = page.inhibitions.read_text() if page.inhibitions else ""
    told = {(f["establishment"], f["indicator"]) for f in polled(page) if "suppressed" not in f}
    page.answer(url, "not-us", COMMENT)
    mine = [p for p in page.proposals() if p["reference"] == reference]
    assert mine and all(p["comment"] == COMMENT and p["source"] == "127.0.0.1" for p in mine)
    assert page.inhibitions is not None and page.inhibitions.read_text() == before  # never applied by itself
    rows = {int(r[0]): r for r in listed(page)}
    first = mine[0]
    assert rows[first["id"]] == [
        str(first["id"]),
        first["establishment"],
        f"{first['indicator']} ({first['type']})",
        first["feed"],
        first["at"][:19],
        "127.0.0.1",
        reference,
        COMMENT,
    ]
    assert (first["establishment"], first["indicator"]) in told

    accepted = alertd(page.config, "inhibitions", "accept", str(first["id"]))
    assert accepted.returncode == 0, accepted.stderr
    after = page.inhibitions.read_text()
    assert after.startswith(before)  # the operator's comments and order kept: one block appended
    assert f"(proposal {first['id']})" in after[len(before) :]
    checked = alertd(page.config, "check")
    assert checked.returncode == 0, checked.stderr
    expires = datetime.now(ZoneInfo("Europe/Paris")).date() + timedelta(days=90)
    held = [
        f
        for f in polled(page)
        if (f.get("establishment"), f["indicator"]) == (first["establishment"], first["indicator"])
    ]
    assert held and all(f["suppressed"] == f"inhibition: {COMMENT}" for f in held)
    assert all(f["inhibition"].startswith(f"{page.inhibitions}:") and f["expires"] == str(expires) for f in held)
    assert first["id"] not in {int(r[0]) for r in listed(page)}
    again = alertd(page.config, "inhibitions", "accept", str(first["id"]))
    assert again.returncode == 2 and "already accepted" in again.stderr


def test_a_rejected_proposal_writes_nothing_and_is_not_listed_again(page: Page) -> None:
    reference, url = list(page.links.items())[1]
    page.answer(url, "not-us", "")
    proposed = next(p for p in page.proposals() if p["reference"] == reference and p["decision"] is None)
    assert page.inhibitions is not None
    before = page.inhibitions.read_text()
    rejected = alertd(page.config, "inhibitions", "reject", str(proposed["id"]))
    assert rejected.returncode == 0, rejected.stderr
    assert page.inhibitions.read_text() == before
    assert proposed["id"] not in {int(r[0]) for r in listed(page)}
    assert alertd(page.config, "inhibitions", "accept", str(proposed["id"])).returncode == 2
    assert alertd(page.config, "inhibitions", "reject", "999999").returncode == 2


def test_accept_takes_an_expiry_and_a_reason(page: Page) -> None:
    reference, url = list(page.links.items())[-1]
    page.answer(url, "not-us", "")
    proposed = next(p for p in page.proposals() if p["reference"] == reference and p["decision"] is None)
    past = alertd(page.config, "inhibitions", "accept", str(proposed["id"]), "--expires", "2020-01-01")
    assert past.returncode == 2 and "not after today" in past.stderr
    ran = alertd(
        page.config, "inhibitions", "accept", str(proposed["id"]), "--expires", "2099-12-31", "--reason", "vu au tél."
    )
    assert ran.returncode == 0, ran.stderr
    assert page.inhibitions is not None
    config = load_config(page.config)
    last = config.inhibitions[-1]
    assert (last.establishment, last.indicator) == (proposed["establishment"], proposed["indicator"])
    assert (last.reason, last.expires) == ("vu au tél.", date(2099, 12, 31))


# -- the file itself -----------------------------------------------------------------------------------------


def entry(reason: str) -> Inhibition:
    return Inhibition(reason=reason, expires=date(2099, 1, 1), establishment="000000033", indicator="EVIL[.]example")


def test_a_hostile_comment_stays_a_value(tmp_path: Path, page: Page) -> None:
    path = tmp_path / "inhibitions.yaml"
    path.write_text("# ours\ninhibitions:\n- feed: urlhaus  # a comment kept\n  reason: noisy\n")
    reason = 'a"\nb: c\n- establishment: x\n# d \\ é\u2028e\x85f\u200bg\U0001f600\x00'
    note = "note\nwith a line break\u2028- x: y\x00"
    written = append_inhibition(path, entry(reason), note, page.prepared.config.registry)
    assert (written.reason, written.indicator) == (reason, "evil.example")
    assert written.where.startswith(f"{path}:")
    text = path.read_text()
    assert text.startswith("# ours\ninhibitions:\n- feed: urlhaus  # a comment kept\n  reason: noisy\n")
    assert text.splitlines()[4:] == [
        "# note with a line break - x: y",
        '- establishment: "000000033"',
        '  indicator: "evil.example"',
        '  reason: "a\\"\\nb: c\\n- establishment: x\\n# d \\\\ é\\u2028e\\u0085f\\u200bg😀\\u0000"',
        "  expires: 2099-01-01",
    ]


@pytest.mark.parametrize("text", ["inhibitions: []\n", "inhibitions:\n  - {feed: urlhaus, reason: x}\n  nope: 1\n"])
def test_a_file_it_cannot_append_to_is_left_as_it_was(tmp_path: Path, page: Page, text: str) -> None:
    path = tmp_path / "inhibitions.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        append_inhibition(path, entry("x"), "note", page.prepared.config.registry)
    assert path.read_text() == text
    assert all(p.file == str(path) for p in raised.value.problems)
    assert [p.name for p in tmp_path.iterdir()] == ["inhibitions.yaml"]


def test_a_missing_file_is_made(tmp_path: Path, page: Page) -> None:
    path = tmp_path / "inhibitions.yaml"
    written = append_inhibition(path, entry("x"), "note", page.prepared.config.registry)
    assert path.read_text().startswith("inhibitions:\n  # note\n  - establishment:")
    assert written.where == f"{path}:3:5"


def test_not_us_again_proposes_nothing_more_and_accepting_twice_writes_once(tmp_path: Path) -> None:
    config = example_with_web(tmp_path / "config", BASE, rate_limit="1000/minute")
    assert alertd(config, "run", "--once").returncode == 0
    p = Page(config)
    try:
        reference, url = next(iter(p.links.items()))
        for _ in range(3):
            p.answer(url, "not-us", COMMENT)
        open_ = [(r["establishment"], r["indicator"], r["feed"]) for r in p.proposals() if r["decision"] is None]
        assert open_ and len(open_) == len(set(open_))  # one open proposal each, however often answered
        first = next(r for r in p.proposals() if r["reference"] == reference)
        assert alertd(config, "inhibitions", "accept", str(first["id"])).returncode == 0
        assert p.inhibitions is not None
        before = p.inhibitions.read_text()
        p.answer(url, "not-us", COMMENT)  # after the decision, a new proposal for the same indicator
        again = next(
            r
            for r in p.proposals()
            if r["decision"] is None
            and (r["establishment"], r["indicator"]) == (first["establishment"], first["indicator"])
        )
        accepted = alertd(config, "inhibitions", "accept", str(again["id"]))
        assert accepted.returncode == 0, accepted.stderr
        assert p.inhibitions.read_text() == before  # already held back: nothing written twice
        assert f"{p.inhibitions}:" in accepted.stdout
    finally:
        p.web.stop()
        p.book.close()
