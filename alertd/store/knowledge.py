"""The vulnerability knowledge in the store: what each source said of each CVE, kept across feeds and polls.

One row per (CVE, feed, entry) whose :class:`~alertd.domain.knowledge.Statement` says something; a row is replaced
when its source says something else and is never deleted, not even when the feed delists the entry: a KEV entry
polled today is judged with the ranges NVD published last month. Functions here take the store's connection;
:class:`alertd.store.sqlite.Store` calls them inside its transactions.

Sizes drive the shape: an EPSS file is ~300,000 rows a day, so a poll's statements go through a temporary table
and SQL compares them with the stored texts, without Python holding the feed's rows or decoding a body.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence

from alertd.domain.knowledge import Statement
from alertd.domain.values import IndicatorType, Observation, Product
from alertd.store.codecs import observation_from_json, products_from_json, statement_from_json, statement_to_json

# A poll's statements, compared with the stored ones before they replace them (private to the connection).
_INCOMING = """CREATE TEMP TABLE IF NOT EXISTS incoming_knowledge (
    cve TEXT NOT NULL, entry TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (cve, entry)
) WITHOUT ROWID"""
# An observation citing a CVE: the substring test skips, without parsing, the many entries that cite none (a
# blocklist's); the JSON test is the one that decides, whatever the spacing of the stored text.
_CVE = IndicatorType.CVE.value
_MAY_CITE_A_CVE = f"""instr(o.body, '"{_CVE}"') > 0"""
_CITES_A_CVE = f"""{_MAY_CITE_A_CVE}
    AND EXISTS (SELECT 1 FROM json_each(o.body, '$.indicators') AS c WHERE json_extract(c.value, '$[0]') = '{_CVE}')"""


def statement_rows(obs: Observation) -> Iterator[tuple[str, str, str]]:
    """The knowledge rows an observation gives: ``(cve, entry, body)`` for each CVE it cites, when it says
    something of them (products, exploitation, a score); nothing otherwise."""
    cves = dict.fromkeys(i.value for i in obs.indicators if i.type is IndicatorType.CVE)
    if not cves:
        return
    statement = Statement.of(obs)
    if not statement.says_something:
        return
    body = statement_to_json(statement)  # one text for all its CVEs: the statement does not depend on the CVE
    for cve in cves:
        yield cve, obs.entry, body


def save(db: sqlite3.Connection, feed: str, rows: Sequence[tuple[str, str, str]], stamp: str) -> frozenset[str]:
    """Upsert one poll's statements of one feed (rows of :func:`statement_rows`); returns the CVEs whose knowledge
    changed: a statement never stored, or one whose text differs. Call it inside a transaction."""
    if not rows:
        return frozenset()
    db.execute(_INCOMING)
    db.execute("DELETE FROM incoming_knowledge")
    db.executemany("INSERT OR REPLACE INTO incoming_knowledge VALUES (?, ?, ?)", rows)
    changed = frozenset(
        cve
        for (cve,) in db.execute(
            """SELECT DISTINCT i.cve FROM incoming_knowledge AS i
               LEFT JOIN knowledge AS k ON k.cve = i.cve AND k.feed = ? AND k.entry = i.entry
               WHERE k.body IS NOT i.body""",
            (feed,),
        )
    )
    if changed:
        # "WHERE true" lets SQLite parse the upsert after a SELECT; the update leaves an equal statement alone, so
        # ``updated`` says when the source last said something new.
        db.execute(
            """INSERT INTO knowledge (cve, feed, entry, body, updated)
               SELECT cve, ?, entry, body, ? FROM incoming_knowledge WHERE true
               ON CONFLICT (cve, feed, entry) DO UPDATE SET body = excluded.body, updated = excluded.updated
               WHERE knowledge.body IS NOT excluded.body""",
            (feed, stamp),
        )
    db.execute("DELETE FROM incoming_knowledge")
    return changed


def fill_from_observations(db: sqlite3.Connection) -> int:
    """The knowledge of every stored observation, listed or delisted, citing a CVE (the upgrade from schema
    version 1, whose store kept no knowledge); each row dated by its observation's last sighting. Returns how
    many rows it wrote."""
    rows = [
        (cve, feed, entry, body, last_seen)
        for feed, last_seen, text in db.execute(
            f"""SELECT o.feed, o.last_seen, o.body FROM observations AS o
                WHERE {_CITES_A_CVE} ORDER BY o.feed, o.entry"""
        )
        for cve, entry, body in statement_rows(observation_from_json(text))
    ]
    db.executemany("INSERT OR REPLACE INTO knowledge (cve, feed, entry, body, updated) VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)


def read(db: sqlite3.Connection, cves: Iterable[str] | None = None) -> dict[str, list[Statement]]:
    """The statements per CVE, of these CVEs or of all (each CVE's by feed and entry)."""
    query = "SELECT cve, feed, entry, body FROM knowledge"
    order = " ORDER BY cve, feed, entry"
    rows = (
        db.execute(query + order)
        if cves is None
        # The primary key starts with the CVE: each one is an index lookup.
        else db.execute(query + " WHERE cve IN (SELECT value FROM json_each(?))" + order, (_json_list(cves),))
    )
    result: dict[str, list[Statement]] = {}
    for cve, feed, entry, body in rows:
        result.setdefault(cve, []).append(statement_from_json(feed, entry, body))
    return result


def cve_products(db: sqlite3.Connection) -> dict[str, list[Product]]:
    """The products every source names for each CVE, all statements together (what the matcher reads until it
    reads the statements themselves)."""
    result: dict[str, list[Product]] = {}
    for cve, products in db.execute(
        """SELECT cve, json_extract(body, '$.products') FROM knowledge
           WHERE json_array_length(body, '$.products') > 0 ORDER BY cve, feed, entry"""
    ):
        result.setdefault(cve, []).extend(products_from_json(products))
    return result


def listed_citing(db: sqlite3.Connection, cves: Iterable[str], exclude_feed: str | None) -> dict[str, list[str]]:
    """The stored JSON of the entries listed now that cite any of these CVEs, per feed (those of
    ``exclude_feed`` left out): the entries to judge again when what is known of the CVEs changed."""
    wanted = _json_list(cves)
    if wanted == "[]":
        return {}
    result: dict[str, list[str]] = {}
    for feed, body in db.execute(
        f"""SELECT o.feed, o.body FROM observations AS o
            WHERE o.delisted_at IS NULL AND o.feed IS NOT ?1 AND {_MAY_CITE_A_CVE}
                AND EXISTS (SELECT 1 FROM json_each(o.body, '$.indicators') AS i
                            WHERE json_extract(i.value, '$[0]') = '{_CVE}'
                                AND json_extract(i.value, '$[1]') IN (SELECT value FROM json_each(?2)))
            ORDER BY o.feed, o.entry""",
        (exclude_feed, wanted),
    ):
        result.setdefault(feed, []).append(body)
    return result


def _json_list(values: Iterable[str]) -> str:
    """Values as one JSON array, which SQLite's ``json_each`` reads as a table: one parameter for any number."""
    return json.dumps(sorted(set(values)))
