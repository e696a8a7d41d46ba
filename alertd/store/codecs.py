"""The store's codecs: domain values to the JSON (and timestamps to the text) kept in SQLite, and back.

The bytes written are part of the stored state: an observation's JSON is hashed to tell a changed feed entry
from an unchanged one, so its encoding (key order, spacing, non-ASCII kept as is) must never drift, or every
entry would look changed after an upgrade. Decoders read what every earlier version wrote.
The store's queries read an observation's ``products`` and ``indicators``, and a statement's ``products``, with
SQLite's JSON functions: a change to their shape changes those queries too. A statement's text is compared, not
hashed, to tell a changed statement: its encoding must not drift either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from alertd.domain.codes import MatchReason, SeverityRule
from alertd.domain.facts import Facts
from alertd.domain.knowledge import Statement
from alertd.domain.tlp import Tlp
from alertd.domain.values import (
    Alert,
    FeedKind,
    Finding,
    Indicator,
    IndicatorType,
    Observation,
    Product,
    ProductStatus,
    Severity,
    VersionRange,
)
from alertd.intake.formats.csvfeed import row_observation

# -- timestamps --------------------------------------------------------------------------------------------


def encode_time(value: datetime) -> str:
    """A moment as the store keeps it: ISO 8601 in UTC to the microsecond, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(value: str | None) -> datetime | None:
    """A stored moment back, None for none."""
    return datetime.fromisoformat(value) if value else None


# -- products and version ranges ---------------------------------------------------------------------------


def range_to_list(r: VersionRange) -> list[str | None]:
    """A version range as a JSON array, in the order of ``VersionRange``'s fields."""
    return [r.exact, r.start_including, r.start_excluding, r.end_including, r.end_excluding]


def range_from_list(items: Sequence[str | None]) -> VersionRange:
    """A version range back from its JSON array."""
    return VersionRange(*items)


def product_to_list(p: Product) -> list[Any]:
    """A product as ``[vendor, product, [range, ...]]``, with a fourth item, an object, for what differs from the
    defaults (``status``, ``edition``, ``target_sw``, ``running_on``): an earlier version's products, which
    have none, are written as they were (their observations keep their digests)."""
    out: list[Any] = [p.vendor, p.product, [range_to_list(r) for r in p.versions]]
    more: dict[str, Any] = {}
    if p.status is not ProductStatus.AFFECTED:
        more["status"] = p.status.value
    if p.edition is not None:
        more["edition"] = p.edition
    if p.target_sw is not None:
        more["target_sw"] = p.target_sw
    if p.running_on:
        more["running_on"] = [product_to_list(q) for q in p.running_on]
    if more:
        out.append(more)
    return out


def product_from_list(items: Sequence[Any]) -> Product:
    """A product back from :func:`product_to_list`'s array."""
    vendor, product, ranges = items[:3]
    more: dict[str, Any] = items[3] if len(items) > 3 else {}
    return Product(
        vendor,
        product,
        tuple(range_from_list(r) for r in ranges),
        ProductStatus(more.get("status", ProductStatus.AFFECTED.value)),
        more.get("edition"),
        more.get("target_sw"),
        tuple(product_from_list(q) for q in more.get("running_on", ())),
    )


def products_from_json(text: str) -> list[Product]:
    """Products back from a JSON array of them (as the store's queries extract it from an observation)."""
    return [product_from_list(p) for p in json.loads(text)]


# -- observations ------------------------------------------------------------------------------------------


def observation_to_json(obs: Observation) -> str:
    """An observation as stored; the same observation always gives the same text (its digest depends on it).

    Its source's marking is written only when it has one: an unmarked entry keeps the text, and the digest, an
    earlier version gave it."""
    return json.dumps(
        {
            **_marking(obs.tlp),
            "feed": obs.feed,
            "entry": obs.entry,
            "kind": obs.kind.value,
            "title": obs.title,
            "indicators": [[i.type.value, i.value] for i in obs.indicators],
            "products": [product_to_list(p) for p in obs.products],
            "text": obs.text,
            "link": obs.link,
            "published": obs.published.isoformat() if obs.published else None,
            "attrs": obs.facts.to_json(),  # the name earlier versions gave the facts
            "exploited": obs.exploited,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def observation_from_json(text: str) -> Observation:
    """An observation back from the store (a bulk list's row too: :func:`rows_to_json`)."""
    d = json.loads(text)
    if ROW_KEY in d:
        observation = row_observation(d[LAYOUT_KEY], d[ROW_KEY])
        if observation is None:  # never written so: the row gave this observation when it was stored
            raise ValueError(f"a stored row of feed {d[LAYOUT_KEY].get('feed')!r} reads as no entry")
        return observation
    return Observation(
        feed=d["feed"],
        entry=d["entry"],
        kind=FeedKind(d["kind"]),
        title=d["title"],
        indicators=tuple(Indicator(IndicatorType(t), v) for t, v in d["indicators"]),
        products=tuple(product_from_list(p) for p in d["products"]),
        text=d["text"],
        link=d["link"],
        published=decode_time(d["published"]),
        facts=Facts.from_json(d["attrs"]),
        exploited=d.get("exploited", False),  # absent from what the first versions wrote
        tlp=tlp_from_dict(d),
    )


# A bulk list's plain row (:class:`~alertd.intake.formats.csvfeed.StoredRows`) is stored as its line and the
# list's layout, read back by :func:`~alertd.intake.formats.csvfeed.row_observation` (schema version 4). An
# observation's object has neither key. The JSON is the store's queries' too: they find no indicators in it.
LAYOUT_KEY = "csv"
ROW_KEY = "row"


_ROW_START = f'{{"{LAYOUT_KEY}":'
_ROW_MARK = f',"{ROW_KEY}":'  # never inside the layout: a quote inside its strings is escaped


def rows_to_json(layout: str, lines: Sequence[str]) -> list[str]:
    """Each line of a bulk list as stored, with the list's ``layout`` (a JSON object): the same line and layout
    always give the same text (its digest tells a changed row). Built in C loops: a list has a million."""
    template = f"{_ROW_START}{layout}{_ROW_MARK}%s}}"
    return list(map(template.__mod__, map(encode_basestring, lines)))


def split_rows(bodies: Iterable[str]) -> tuple[list[int], dict[str, tuple[list[int], list[str]]]]:
    """Stored entries told apart: the positions of the observations' JSON, and per layout (its JSON text) the
    positions and lines of bulk lists' rows (:func:`rows_to_json`), in the order given."""
    texts: list[int] = []
    rows: dict[str, tuple[list[int], list[str]]] = {}
    start = len(_ROW_START)
    for n, body in enumerate(bodies):
        if body.startswith(_ROW_START):
            cut = body.find(_ROW_MARK, start)
            positions, lines = rows.setdefault(body[start:cut], ([], []))
            positions.append(n)
            lines.append(json.loads(body[cut + len(_ROW_MARK) : -1]))
        else:
            texts.append(n)
    return texts, rows


def _marking(tlp: Tlp | None) -> dict[str, str]:
    return {"tlp": tlp.value} if tlp is not None else {}


def tlp_from_dict(d: Mapping[str, Any]) -> Tlp | None:
    """The source's marking of a stored observation or finding: its ``tlp``; for one an earlier version wrote, the
    ``tlp`` fact its MISP and CSAF parsers kept (the label as written), read as the parsers read it now."""
    if d.get("tlp"):
        return Tlp.parse(d["tlp"])  # a marking alertd cannot read is RED (fail closed)
    attrs = d.get("attrs")
    written = attrs.get("tlp") if isinstance(attrs, Mapping) else None
    return Tlp.parse(written) if isinstance(written, str) and written.strip() else None


# -- statements (the vulnerability knowledge) --------------------------------------------------------------


def statement_to_json(s: Statement) -> str:
    """What a source says of a CVE as the knowledge table keeps it (its CVE, feed and entry are columns). The same
    statement always gives the same text: the store compares texts to tell a changed statement from the same."""
    return _STATEMENT_ENCODER.encode(
        {
            "products": [product_to_list(p) for p in s.products],
            "exploited": s.exploited,
            "cvss": s.cvss,
            "epss": s.epss,
        }
    )


# What ``json.dumps(..., ensure_ascii=False, sort_keys=True)`` builds on each call, built once: an EPSS file
# gives 300,000 statements a day.
_STATEMENT_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def statement_from_json(feed: str, entry: str, text: str) -> Statement:
    """A statement back from its row: the feed and entry columns, and :func:`statement_to_json`'s text."""
    d = json.loads(text)
    return Statement(
        feed,
        entry,
        tuple(product_from_list(p) for p in d["products"]),
        d["exploited"],
        d["cvss"],
        d["epss"],
    )


# -- findings ----------------------------------------------------------------------------------------------


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """A finding as a JSON object (stored alone, and inside each of its alerts)."""
    return {
        "establishment": f.establishment,
        "indicator": [f.indicator.type.value, f.indicator.value],
        "asset": f.asset,
        "reason": f.reason,
        "feed": f.feed,
        "kind": f.kind.value,
        "entry": f.entry,
        "title": f.title,
        "link": f.link,
        "published": f.published.isoformat() if f.published else None,
        "attrs": f.facts.to_json(),
        **_marking(f.tlp),
    }


def finding_from_dict(d: Mapping[str, Any]) -> Finding:
    """A finding back from its JSON object."""
    return Finding(
        establishment=d["establishment"],
        indicator=Indicator(IndicatorType(d["indicator"][0]), d["indicator"][1]),
        asset=d["asset"],
        reason=MatchReason(d["reason"]),
        feed=d["feed"],
        kind=FeedKind(d["kind"]),
        entry=d["entry"],
        title=d["title"],
        link=d["link"],
        published=decode_time(d["published"]),
        facts=Facts.from_json(d["attrs"]),
        tlp=tlp_from_dict(d),
    )


def finding_to_json(f: Finding) -> str:
    """A finding as stored in its own row."""
    return json.dumps(finding_to_dict(f), ensure_ascii=False)


def finding_from_json(text: str) -> Finding:
    """A finding back from its row."""
    return finding_from_dict(json.loads(text))


# -- alerts ------------------------------------------------------------------------------------------------


def alert_to_json(a: Alert) -> str:
    """An alert as queued, with its finding as it was when policy decided."""
    return json.dumps(
        {
            "finding": finding_to_dict(a.finding),
            "severity": a.severity.label,
            "rule": a.rule.to_json(),
            "subscription": a.subscription,
            "immediate": a.immediate,
            "first_seen": encode_time(a.first_seen),
            "last_seen": encode_time(a.last_seen),
            "tlp": a.tlp.value,
            "follow_up": a.follow_up,
            "inventory": a.inventory,
        },
        ensure_ascii=False,
    )


def alert_from_json(text: str) -> Alert:
    """An alert back from the queue."""
    d = json.loads(text)
    return Alert(
        finding=finding_from_dict(d["finding"]),
        severity=Severity.parse(d["severity"]),
        rule=SeverityRule.from_json(d["rule"]),  # an earlier version's English sentence reads as its code
        subscription=d["subscription"],
        immediate=d["immediate"],
        first_seen=datetime.fromisoformat(d["first_seen"]),
        last_seen=datetime.fromisoformat(d["last_seen"]),
        tlp=Tlp.parse(d["tlp"]),  # a marking alertd cannot read is RED (fail closed)
        follow_up=d["follow_up"],
        inventory=d.get("inventory", False),  # an earlier version queued no inventory
    )


# -- deliveries --------------------------------------------------------------------------------------------


def recipients_to_json(recipients: Sequence[str]) -> str:
    """A delivery's recipients as stored."""
    return json.dumps(list(recipients))


def recipients_from_json(text: str) -> tuple[str, ...]:
    """A delivery's recipients back."""
    return tuple(json.loads(text))
