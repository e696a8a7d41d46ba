"""The bulk path's oracle extended to the stored state: a list stored as its rows (``csvfeed.stored_rows``, schema
version 4) leaves a store whose entries read back as those the row path stores (``csvfeed.read``, each entry's
JSON): the same observations, the same entries new and delisted by the next poll, the same findings when the
registry is matched again, the same ``alertd explain --entry``; and a store an earlier version wrote keeps working.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from builders import FEODO_HEADER, feodo_rows
from configs import alertd, copy_example
from paths import DATA
from test_batch import FEODO_FULL, INDEX, SAMPLES, generated, index_around, same, spec

from alertd.config.files import load_config
from alertd.domain.establishments import Registry
from alertd.domain.feeds import FeedSpec
from alertd.domain.values import Observation
from alertd.intake.fetch import Fetcher
from alertd.intake.formats import csvfeed
from alertd.intake.formats.entries import bounded
from alertd.match.index import MatchIndex
from alertd.service import cli
from alertd.service import poll as poll_module
from alertd.service.engine import Engine
from alertd.service.poll import decode_listed, decode_observations, stored_sifted
from alertd.service.setup import prepare
from alertd.store import bulk
from alertd.store.codecs import rows_to_json
from alertd.store.records import ObservationDelta
from alertd.store.schema import SCHEMA_VERSION
from alertd.store.sqlite import Store

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
V3 = Path(__file__).parent.parent / "store" / "store_v3.sql"


def store_in(folder: Path) -> Store:
    """A store of its own (a state directory holds one)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Store(folder / "alertd.sqlite3")


def by_rows(store: Store, feed: FeedSpec, body: bytes, now: datetime = NOW) -> ObservationDelta:
    """What the row path stores: every entry built, then encoded."""
    return store.save_observations(feed.id, [bounded(o) for o in csvfeed.read(feed, body).observations], now)


def by_bulk(store: Store, feed: FeedSpec, body: bytes, now: datetime = NOW) -> ObservationDelta:
    """What the daemon's poll stores of a bulk list: each plain row as its line."""
    rows = csvfeed.stored_rows(feed, body)
    assert rows is not None
    return store.save_observations(feed.id, rows.observations, now, rows=rows)


def listed(store: Store, feed: str) -> dict[str, Observation]:
    return {o.entry: o for o in decode_observations(store.listed_bodies(feed).get(feed, []))}


def delisted(store: Store, feed: str) -> set[str]:
    query = "SELECT entry FROM observations WHERE feed = ? AND delisted_at IS NOT NULL"
    return {entry for (entry,) in store.db.execute(query, (feed,))}


def assert_same_store(tmp_path: Path, feed: FeedSpec, body: bytes, index: MatchIndex | None = None) -> None:
    """Both paths store ``body`` in stores of their own: the same entries read back, the same findings matched."""
    rows, bulk = store_in(tmp_path / "rows"), store_in(tmp_path / "bulk")
    try:
        assert by_bulk(bulk, feed, body) == by_rows(rows, feed, body)
        expected = listed(rows, feed.id)
        assert listed(bulk, feed.id) == expected and expected
        # Each entry alone too, as ``alertd explain --entry`` reads it.
        assert all(bulk.observation(feed.id, entry) == o for entry, o in expected.items())
        index = index or index_around(list(expected.values()))
        found = same(index.match(list(expected.values())))
        assert same(index.match(list(listed(bulk, feed.id).values()))) == found
        # A re-match (after a reload, or a poll that found the list unchanged) decodes only the rows that hit.
        for store in (bulk, rows):
            assert same(index.match(decode_listed(store.listed_bodies(feed.id)[feed.id], index))) == found
    finally:
        rows.close()
        bulk.close()


@pytest.mark.parametrize(("name", "columns"), SAMPLES, ids=[name for name, _ in SAMPLES])
def test_every_real_sample_is_stored_as_the_row_path_stores_it(
    tmp_path: Path, name: str, columns: dict[str, str]
) -> None:
    assert_same_store(tmp_path, spec(columns), (DATA / name).read_bytes())


@pytest.mark.parametrize("seed", range(6))
def test_generated_lists_with_every_kind_of_row_are_stored_the_same(tmp_path: Path, seed: int) -> None:
    body = "\n".join(generated(seed)).encode()
    assert csvfeed.stored_rows(spec({"ip": "dst_ip", "port": "dst_port", "malware": "malware"}), body) is not None
    for n, columns in enumerate(({"ip": "dst_ip", "port": "dst_port", "malware": "malware"}, {"ip": "dst_ip"})):
        assert_same_store(tmp_path / str(n), spec(columns), body, INDEX)


def test_a_long_title_is_cut_as_the_poll_cuts_it(tmp_path: Path) -> None:
    feed = spec({"ip": "dst_ip", "malware": "malware"})
    body = "\n".join([FEODO_HEADER, *feodo_rows(3, 20, [], (81,), ("443",))]).replace("Pikabot", "P" * 3000)
    assert_same_store(tmp_path, feed, body.encode())
    store = store_in(tmp_path / "bulk")
    assert len(listed(store, feed.id)) == 20
    store.close()


def test_the_next_poll_delists_and_updates_the_same_entries(tmp_path: Path) -> None:
    feed = spec({"ip": "dst_ip", "port": "dst_port", "malware": "malware"})
    first = generated(7, 600)
    rnd = random.Random(7)
    second = [first[0]]
    for line in first[1:]:
        draw = rnd.random()
        if draw < 0.2:
            continue  # gone from the list
        second.append(line.replace("Pikabot", "Qakbot") if draw < 0.35 else line)
    second += generated(8, 50)[1:]  # and some new
    rows, bulk = store_in(tmp_path / "rows"), store_in(tmp_path / "bulk")
    later = NOW + timedelta(hours=1)
    for store, save in ((rows, by_rows), (bulk, by_bulk)):
        save(store, feed, "\n".join(first).encode())
    row_delta = by_rows(rows, feed, "\n".join(second).encode(), later)
    bulk_delta = by_bulk(bulk, feed, "\n".join(second).encode(), later)
    assert (bulk_delta.new, bulk_delta.delisted) == (row_delta.new, row_delta.delisted)
    assert row_delta.delisted > 50 and row_delta.changed > 20
    # A changed row is changed to both (a row's line can change where its entry does not: changed, not new).
    assert bulk_delta.changed >= row_delta.changed
    assert listed(bulk, feed.id) == listed(rows, feed.id)
    assert delisted(bulk, feed.id) == delisted(rows, feed.id) and delisted(rows, feed.id)
    # Each delisted entry reads back as it was last seen.
    assert all(bulk.observation(feed.id, e) == rows.observation(feed.id, e) for e in delisted(rows, feed.id))


def test_a_store_of_the_previous_version_reads_and_polls_on(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V3.read_text(encoding="utf-8"))
    db.close()
    store = Store(path)
    feed = spec(FEODO_FULL, "feodo")  # as the dump was written
    body = (DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv").read_bytes()
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
        before = listed(store, "feodo")
        assert before == {o.entry: bounded(o) for o in csvfeed.read(feed, body).observations}
        # The same list read in bulk: nothing new, nothing delisted; each entry rewritten in the new form once.
        delta = by_bulk(store, feed, body, NOW + timedelta(days=3))
        assert (delta.new, delta.changed, delta.delisted) == (0, len(before), 0)
        assert listed(store, "feodo") == before
        again = by_bulk(store, feed, body, NOW + timedelta(days=4))
        assert (again.new, again.changed, again.unchanged, again.delisted) == (0, 0, len(before), 0)
    finally:
        store.close()


def test_a_store_written_in_bulk_is_refused_by_the_previous_version(tmp_path: Path) -> None:
    """Its rows are no JSON an earlier alertd reads: the version it would refuse is written."""
    store = store_in(tmp_path)
    by_bulk(store, spec({"ip": "dst_ip"}), "\n".join(generated(1)).encode())
    store.close()
    db = sqlite3.connect(tmp_path / "alertd.sqlite3")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)
    bodies = [json.loads(body) for (body,) in db.execute("SELECT body FROM observations")]
    db.close()
    assert any("row" in body for body in bodies) and any("entry" in body for body in bodies)


def test_the_storing_poll_matches_what_it_stores(tmp_path: Path) -> None:
    """What the poll matches (the rows the index yields something for) finds what matching every entry stored
    finds, and the entries it stores are those :func:`stored_rows` gives."""
    for seed in range(4):
        body = "\n".join(generated(seed)).encode()
        feed = spec({"ip": "dst_ip", "port": "dst_port", "malware": "malware"})
        kept = stored_sifted(feed, body, INDEX)
        assert kept is not None
        found, rows = kept
        every = [bounded(o) for o in csvfeed.read(feed, body).observations]
        assert same(INDEX.match(found)) == same(INDEX.match(every))
        assert len(rows) == len(every)


# -- through the real command ------------------------------------------------------------------------------

EDGES = ["84.247.157.0", "84.247.157.255", "84.247.156.255", "154.12.224.0", "23.226.138.128", "10.0.0.1"]
ODD = ["84.247.157.9:443", "[2001:db8:11::1]:443", " 84.247.157.3 ", "010.1.1.1"]
LIST = "feodotracker_ipblocklist_2024-04-04.csv"


def test_the_daemons_poll_stores_every_entry_and_explains_it_as_the_row_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bulk_config, rows_config = copy_example(tmp_path / "bulk"), copy_example(tmp_path / "rows")
    lines = feodo_rows(16, 5_000, [(0.05, EDGES), (0.07, ODD)], range(1, 224), ("443", "8080", "2222"))
    for path in (bulk_config, rows_config):
        (path.parent / "feeds" / LIST).write_text("\n".join(["# generated", FEODO_HEADER, *lines, "# END"]))
    result = alertd(bulk_config, "run", "--once", log_level="error")
    assert result.returncode == 0, result.stderr

    config = load_config(bulk_config)
    [feed] = [f for f in config.feeds if f.id == "feodo"]
    body = (bulk_config.parent / "feeds" / LIST).read_bytes()
    every = [bounded(o) for o in csvfeed.read(feed.spec, body).observations]
    store = Store.for_settings(config.settings, create=False)
    try:
        stored = listed(store, "feodo")
        found = {key for (key,) in store.db.execute("SELECT key FROM findings WHERE feed = 'feodo'")}
        stored_kinds = [json.loads(b) for (b,) in store.db.execute("SELECT body FROM observations")]
    finally:
        store.close()
    assert stored == {o.entry: o for o in every}
    assert sum("row" in b for b in stored_kinds) > 4_000  # stored as rows, not built
    matched = prepare(config).index.match(every)
    assert found == {f.key for f in matched.findings} and len(found) >= 3

    rows_store = Store.for_settings(load_config(rows_config).settings)
    try:
        rows_store.save_observations("feodo", every, NOW)
    finally:
        rows_store.close()
    capsys.readouterr()
    hit = next(f for f in matched.findings)
    shown = []
    for folder in (bulk_config, rows_config):
        assert cli.cmd_explain_entry(load_config(folder), hit.establishment, f"feodo:{hit.entry}") == 0
        shown.append(capsys.readouterr().out)
    assert shown[0] == shown[1] and shown[0]


def test_a_rematch_decodes_the_rows_that_hit_and_every_other_entry() -> None:
    feed = spec({"ip": "dst_ip", "port": "dst_port", "malware": "malware"})
    body = "\n".join(generated(2)).encode()
    rows = csvfeed.stored_rows(feed, body)
    assert rows is not None and rows.observations  # some rows are not plain: stored as their JSON
    bodies = [e[2] for e in bulk.encode(rows.observations, rows)]
    decoded = decode_listed(bodies, INDEX)
    everything = decode_observations(bodies)
    assert len(rows.observations) < len(decoded) < len(everything) / 2
    assert same(INDEX.match(decoded)) == same(INDEX.match(everything))
    # A stored line that is no plain row (never written so): every line of its list is decoded then.
    odd = rows_to_json(rows.layout, ["not,an,address,row"])
    assert len(decode_listed(bodies + odd, INDEX)) == len(everything)


def test_a_reload_between_the_bulk_read_and_the_match_matches_every_entry_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows not built were judged by the index before the reload: the poll matches what it stored again."""
    config_file = copy_example(tmp_path / "config")
    lines = feodo_rows(16, 2_000, [(0.05, EDGES), (0.07, ODD)], range(1, 224), ("443", "8080", "2222"))
    (config_file.parent / "feeds" / LIST).write_text("\n".join([FEODO_HEADER, *lines]))
    config = load_config(config_file)
    [feed] = [f for f in config.feeds if f.id == "feodo"]
    engine = Engine(replace(config, registry=Registry(MappingProxyType({}), ())), store_in(tmp_path / "state"))
    after = prepare(config)
    read_in_bulk = poll_module.stored_sifted

    def then_reload(spec: FeedSpec, body: bytes, index: MatchIndex) -> object:
        kept = read_in_bulk(spec, body, index)
        engine.prepared = after  # as a SIGHUP's reload would, while the list is read
        return kept

    monkeypatch.setattr(poll_module, "stored_sifted", then_reload)

    async def run() -> None:
        async with Fetcher(trust_env=False) as fetcher:
            assert (await engine.poll(feed, fetcher, NOW)).ok

    asyncio.run(run())
    every = csvfeed.read(feed.spec, (config_file.parent / "feeds" / LIST).read_bytes()).observations
    expected = {f.key for f in after.index.match(every).findings}
    found = {key for (key,) in engine.store.db.execute("SELECT key FROM findings")}
    engine.store.close()
    assert found == expected and expected
