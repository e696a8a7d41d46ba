"""TAXII 2.1 collections (format ``taxii``, issue #13 point 7) against a real medallion server on loopback.

The collection holds SEKOIA's real STIX 2.1 APT31 objects (tests/data/stix/), added over TAXII with basic auth.
The first poll reads every object page by page, the next ones only what was added after (``added_after``); a
TLP:RED indicator added later is never emailed; a server error fails its feed only; the size cap holds across
pages and the page bound leaves the rest to the next poll; certificates are verified.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from configs import MAILDIR_SETTINGS
from paths import DATA, ROOT
from taxii_server import PASSWORD, USER, TaxiiTestServer

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError, FetchError
from alertd.domain.feeds import FeedConfig, FeedFormat, Validators
from alertd.domain.values import FeedKind
from alertd.intake import taxii
from alertd.intake.fetch import Fetcher, FetchResult
from alertd.intake.formats import FORMATS, parse_feed, stix
from alertd.service.engine import Engine
from alertd.service.poll import PollReport
from alertd.store.sqlite import Store

APT31 = DATA / "stix" / "sekoia_stix21_2021-11-10_apt31.jsonl"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
BROKEN = "64993447-4d7e-4f70-b94d-d7f33742ee63"


def apt31() -> list[dict[str, Any]]:
    return [json.loads(line) for line in APT31.read_text().splitlines() if line.strip()]


def apt31_without_relationships() -> list[dict[str, Any]]:
    """The sample's 123 indicators, malware, campaigns and attack patterns: medallion copies and filters the whole
    collection for every request, and the engine tests need no malware names."""
    return [o for o in apt31() if o["type"] != "relationship"]


def indicator(ip: str, marking: str, n: int) -> dict[str, Any]:
    """A new STIX 2.1 indicator, as a producer adds one to the collection after the first poll."""
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--0b9d7a36-5c43-4c4f-9f52-8a0f0c1d2e{n:02d}",
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": f"APT31 ORB relay {ip}",
        "pattern": f"[ipv4-addr:value = '{ip}']",
        "pattern_type": "stix",
        "valid_from": "2026-03-01T10:00:00Z",
        "object_marking_refs": [marking],
    }


def feed(url: str, password_file: Path | None, **options: Any) -> FeedConfig:
    return FeedConfig(
        "taxii-apt31",
        url,
        FeedFormat.TAXII,
        timedelta(hours=1),
        FeedKind.COMPROMISE,
        username=USER if password_file else None,
        password_file=password_file,
        **options,
    )


def fetch(f: FeedConfig, validators: Validators, ca_file: Path | None = None) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(trust_env=False, ca_file=ca_file) as fetcher:
            return await fetcher.fetch(f, validators)

    return asyncio.run(run())


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "taxii-password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TaxiiTestServer]:
    # Two pages: medallion copies and filters the whole collection for each, slow enough under load.
    with TaxiiTestServer(tmp_path, {COLLECTION: apt31(), BROKEN: None}, page_size=200) as running:
        yield running


@pytest.fixture
def lighter(tmp_path: Path) -> Iterator[TaxiiTestServer]:
    with TaxiiTestServer(tmp_path, {COLLECTION: apt31_without_relationships(), BROKEN: None}) as running:
        yield running


# -- the fetch edge ----------------------------------------------------------------------------------------------


def test_first_poll_reads_every_page_then_only_what_was_added(server: TaxiiTestServer, password_file: Path) -> None:
    f = feed(server.collection_url(COLLECTION), password_file)
    first = fetch(f, Validators())
    assert not first.not_modified and first.complete
    assert len(json.loads(first.body)["objects"]) == 370  # in two pages
    assert first.validators.last_modified is not None  # the server's X-TAXII-Date-Added-Last
    # Read as the stix parser reads the same objects served as one document.
    whole = stix.parse(f.spec, APT31.read_bytes())
    assert [o.entry for o in parse_feed(f.spec, first.body)] == [o.entry for o in whole]
    assert len(whole) == 102

    unchanged = fetch(f, first.validators)
    assert unchanged.not_modified and unchanged.body == b""
    assert unchanged.validators == first.validators

    server.add(COLLECTION, [indicator("81.236.182.77", TLP1_WHITE, 1)])
    added = fetch(f, first.validators)
    assert not added.not_modified and not added.complete  # what it does not list has not left the collection
    assert [o["id"] for o in json.loads(added.body)["objects"]] == [indicator("", "", 1)["id"]]
    assert added.validators.last_modified is not None
    assert added.validators.last_modified > (first.validators.last_modified or "")


def test_the_size_cap_holds_across_pages(server: TaxiiTestServer, password_file: Path) -> None:
    objects = apt31()
    pages = [len(json.dumps({"objects": objects[:200]})), len(json.dumps({"objects": objects[200:]}))]
    cap = max(pages) + 5000  # each page is below it, the two together above
    assert sum(pages) > cap
    f = feed(server.collection_url(COLLECTION), password_file, max_bytes=cap)
    with pytest.raises(FetchError, match="more than max_bytes"):
        fetch(f, Validators())


def test_the_page_bound_leaves_the_rest_to_the_next_poll(
    tmp_path: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(taxii, "MAX_PAGES", 2)
    objects = apt31()[:50]
    with TaxiiTestServer(tmp_path, {COLLECTION: objects[:10]}, page_size=10) as small:
        for start in range(10, 50, 10):  # five additions: five dates the server added objects on
            small.add(COLLECTION, objects[start : start + 10])
        f = feed(small.collection_url(COLLECTION), password_file)
        first = fetch(f, Validators())
        assert not first.complete and len(json.loads(first.body)["objects"]) == 20
        ids = {o["id"] for o in json.loads(first.body)["objects"]}
        validators, polls = first.validators, 1
        while not (more := fetch(f, validators)).not_modified:
            assert not more.complete
            ids |= {o["id"] for o in json.loads(more.body)["objects"]}
            validators, polls = more.validators, polls + 1
        # Each poll goes on from the date before its last (objects added at once share a date): none is skipped.
        assert ids == {o["id"] for o in objects} and polls == 4


def test_objects_added_at_once_are_read_whole_past_the_page_bound(
    tmp_path: Path, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(taxii, "MAX_PAGES", 2)
    with TaxiiTestServer(tmp_path, {COLLECTION: apt31()[:30]}, page_size=10) as small:
        # Stopping inside one addition could go on from nowhere but the start: read whole instead.
        first = fetch(feed(small.collection_url(COLLECTION), password_file), Validators())
    assert first.complete and len(json.loads(first.body)["objects"]) == 30


def test_wrong_password_and_server_error_are_fetch_errors(
    server: TaxiiTestServer, tmp_path: Path, password_file: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password")
    with pytest.raises(FetchError, match=r"HTTP 401 .*check the feed's 'username' and password") as info:
        fetch(feed(server.collection_url(COLLECTION), wrong), Validators())
    assert "not the password" not in str(info.value)
    with pytest.raises(FetchError, match="HTTP 500"):
        fetch(feed(server.collection_url(BROKEN), password_file), Validators())


def test_a_read_that_cannot_finish_in_the_feeds_timeout_fails(
    tmp_path: Path, lighter: TaxiiTestServer, password_file: Path
) -> None:
    f = feed(lighter.collection_url(COLLECTION), password_file, timeout=0.001)
    with pytest.raises(FetchError, match=r"timed out after 0\.001s; raise the feed's 'timeout'"):
        fetch(f, Validators())


def test_certificates_are_verified(tmp_path: Path, password_file: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with TaxiiTestServer(tmp_path, {COLLECTION: apt31()[:20]}, ca=ca) as tls:
        f = feed(tls.collection_url(COLLECTION), password_file)
        with pytest.raises(FetchError, match="TLS failed"):
            fetch(f, Validators())  # the system's store does not know the test CA
        assert len(json.loads(fetch(f, Validators(), ca_file=ca_file).body)["objects"]) == 20


def test_the_password_comes_from_its_file_or_the_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "feed-taxii-apt31-password").write_text("from systemd\n")
    f = feed("https://taxii.example/api1/collections/x/", tmp_path / "absent")
    assert taxii.read_password(f, environ={"CREDENTIALS_DIRECTORY": str(creds)}) == "from systemd"
    with pytest.raises(FetchError, match="does not exist, and no systemd credential 'feed-taxii-apt31-password'"):
        taxii.read_password(f, environ={})
    (tmp_path / "absent").write_text("from the file\n")
    assert taxii.read_password(f, environ={"CREDENTIALS_DIRECTORY": str(creds)}) == "from the file"


def test_taxii_is_read_as_stix() -> None:
    assert FORMATS[FeedFormat.TAXII].kind is FeedKind.COMPROMISE
    assert FORMATS[FeedFormat.TAXII].expand is None


# -- through the engine: incremental polls, TLP:RED, a failing server -------------------------------------------

ESTABLISHMENTS = """\
establishments:
  - id: e-orb
    name: CH Relais
    contacts: [{email: rssi@ch-relais.example}]
    networks: [81.236.182.0/24]
  - id: e-red
    name: CH Rouge
    contacts: [{email: rssi@ch-rouge.example}]
    networks: [83.81.74.0/24]
"""


class Setup:
    """Two taxii feeds of one medallion server (the APT31 collection, and a broken one), maildir delivery."""

    def __init__(self, tmp: Path, server: TaxiiTestServer, password_file: Path) -> None:
        (tmp / "establishments.yaml").write_text(ESTABLISHMENTS)
        (tmp / "subscriptions.yaml").write_text(
            "subscriptions:\n  - {name: all, establishments: all, min_severity: info, delivery: immediate}\n"
        )
        (tmp / "feeds.yaml").write_text(
            "feeds:\n"
            + "".join(
                f"  - {{id: {fid}, url: '{server.collection_url(cid)}', format: taxii, interval: 1h, tlp: clear,\n"
                f"     backlog_after: never, username: {USER}, password_file: {password_file.name}}}\n"
                for fid, cid in (("apt31", COLLECTION), ("broken", BROKEN))
            )
        )
        self.config_file = tmp / "alertd.yaml"
        self.config_file.write_text(MAILDIR_SETTINGS)
        config = load_config(self.config_file)
        self.store = Store.in_state_dir(config.settings.state_dir)
        self.engine = Engine(config, self.store)

    def poll(self, *feed_ids: str) -> tuple[list[PollReport], list[EmailMessage]]:
        feeds = [self.engine.config.feed(i) for i in feed_ids]

        async def run() -> list[PollReport]:
            async with Fetcher(trust_env=False) as fetcher:
                return list(await asyncio.gather(*(self.engine.poll(f, fetcher, NOW) for f in feeds)))

        reports = asyncio.run(run())
        emails = [message_from_bytes(self.store.message(i), policy=policy.default) for i in self.engine.dispatch(NOW)]
        return reports, [m for m in emails if isinstance(m, EmailMessage)]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_incremental_polls_keep_what_was_read_and_never_email_tlp_red(
    tmp_path: Path, lighter: TaxiiTestServer, password_file: Path
) -> None:
    server = lighter
    setup = Setup(tmp_path, server, password_file)
    (first,), emails = setup.poll("apt31")
    assert first.ok and first.observations == 102 and first.findings == 1
    assert [m["To"] for m in emails] == ["rssi@ch-relais.example"]
    assert "81[.]236[.]182[.]199" in text_of(emails[0])

    (unchanged,), emails = setup.poll("apt31")
    assert unchanged.ok and unchanged.not_modified and emails == []

    server.add(COLLECTION, [indicator("83.81.74.99", TLP2_RED, 2), indicator("81.236.182.77", TLP1_WHITE, 3)])
    (second,), emails = setup.poll("apt31")
    assert second.ok and second.observations == 2 and second.new == 2 and second.delisted == 0
    assert second.findings == 2 and second.alerts == 1  # the red one is a finding, emailed to nobody
    assert [m["To"] for m in emails] == ["rssi@ch-relais.example"]
    assert "81[.]236[.]182[.]77" in text_of(emails[0]) and "83[.]81[.]74" not in text_of(emails[0])
    assert [str(f.indicator) for f in setup.store.red_findings()] == ["ipv4:83.81.74.99"]
    # The entries of the first poll are still listed: an incremental read delists nothing.
    assert len(setup.store.listed_bodies("apt31")["apt31"]) == 104


def test_a_server_error_fails_its_feed_while_the_other_goes_on(
    tmp_path: Path, lighter: TaxiiTestServer, password_file: Path
) -> None:
    setup = Setup(tmp_path, lighter, password_file)
    (good, broken), emails = setup.poll("apt31", "broken")
    assert not broken.ok and broken.error is not None and "HTTP 500" in broken.error
    assert good.ok and good.findings == 1 and len(emails) == 1
    assert setup.store.feed_state("broken").consecutive_failures == 1


# -- configuration ------------------------------------------------------------------------------------------------


def with_feeds(folder: Path, lines: str) -> tuple[Path, int]:
    """The example configuration copied into ``folder`` with feeds added to its feeds.yaml; the line before them."""
    shutil.copytree(ROOT / "config", folder)
    feeds = folder / "feeds.yaml"
    text = feeds.read_text().rstrip("\n") + "\n"
    feeds.write_text(text + lines)
    return folder / "alertd.yaml", text.count("\n")


def test_config_reads_credentials_and_checks_the_collection_url(tmp_path: Path) -> None:
    config, _ = with_feeds(
        tmp_path / "good",
        "  - {id: partner, url: 'https://taxii.partner.example/api1/collections/" + COLLECTION + "/',\n"
        "     format: taxii, interval: 1h, username: cert-sante, password_file: secrets/taxii}\n",
    )
    f = load_config(config).feed("partner")
    assert f.format is FeedFormat.TAXII and f.kind is FeedKind.COMPROMISE
    assert f.username == "cert-sante" and f.password_file == config.parent / "secrets" / "taxii"

    config, before = with_feeds(
        tmp_path / "bad",
        "  - {id: a, url: 'https://taxii.example/api1/', format: taxii, interval: 1h}\n"
        "  - {id: b, url: 'http://taxii.example/api1/collections/x/', format: taxii, interval: 1h, username: u}\n"
        "  - {id: c, url: 'https://example.org/feed.xml', format: rss, interval: 1h, username: u}\n"
        "  - {id: d, url: 'https://t.example/api1/collections/x/', format: taxii, interval: 1h, password_file: p}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    found = [(p.line - before, p.message) for p in info.value.problems if not p.warning]
    assert [line for line, _ in found] == [1, 2, 3, 4], found
    assert "is no TAXII collection's" in found[0][1]
    assert "clear text over http://" in found[1][1]
    assert "'username' is read by taxii feeds only" in found[2][1]
    assert "'password_file' needs a 'username'" in found[3][1]
