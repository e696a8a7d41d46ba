"""Acceptance: the full FINESS registry (95,333 establishments) against every real leak-site post, press report
and RSS item of the samples, through the real parsers: the French health victims found, at most one false name
alarm in all of them.

The victims and the traps are ``tests/data/finess/victims.yaml``: each French health establishment a post or
report names, with its FINESS number, and the names a naive matcher ties to the wrong establishment.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from builders import make_feed_spec
from finess_registry import finess_registry
from paths import DATA, SHARED

from alertd.domain.codes import MatchReason
from alertd.domain.errors import ParseError
from alertd.domain.establishments import Registry
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import Observation
from alertd.intake.formats import leaks, press, rss
from alertd.match.index import MatchIndex

VICTIMS: dict[str, Any] = yaml.safe_load((DATA / "finess" / "victims.yaml").read_text(encoding="utf-8"))
MORE = SHARED / "feeds" / "more"
# What an operator declares and FINESS does not hold: the CH Sud Francilien's domain (its posts are only
# "ch-sf.fr"), and the name the Maternité des Bluets goes by (FINESS: HOPITAL PIERRE ROUQUES LES BLUETS).
DOMAINS = {"910000314": ("ch-sf.fr",)}
ALIASES = {"750150013": ("Maternité des Bluets",)}


def _registry() -> Registry:
    ests = dict(finess_registry().establishments)
    for est_id, domains in DOMAINS.items():
        ests[est_id] = replace(ests[est_id], domains=domains)
    for est_id, aliases in ALIASES.items():
        ests[est_id] = replace(ests[est_id], aliases=aliases)
    return Registry(MappingProxyType(ests), ())


@functools.cache
def _index() -> tuple[Registry, MatchIndex, float]:
    registry = _registry()
    started = time.perf_counter()
    index = MatchIndex(registry, benign=None)
    return registry, index, time.perf_counter() - started


def _observations() -> list[Observation]:
    """Every entry of the real lists, as the real parsers read them."""
    readers = (
        (leaks.parse, FeedFormat.LEAK_VICTIMS, [*MORE.glob("leak_*.json"), *(DATA / "leaks").glob("*.json")]),
        (press.parse, FeedFormat.PRESS_REPORTS, [*MORE.glob("press_*.json"), *(DATA / "press").glob("*.json")]),
        (rss.parse, FeedFormat.RSS, [*MORE.glob("rss_*.xml"), *(DATA / "rss").glob("*.xml")]),
    )
    out: list[Observation] = []
    for parse, fmt, paths in readers:
        for path in sorted(paths, key=lambda p: p.name):
            try:
                out += parse(make_feed_spec(path.stem, fmt), path.read_bytes())
            except ParseError:
                continue  # the hostile samples (XXE, billion laughs, an empty file) hold no entry
    return out


def _title(entry: str) -> str:
    return leaks.clean_title(entry)


@pytest.mark.slow
def test_finess_registry_against_every_real_post() -> None:
    registry, index, built = _index()
    observations = _observations()
    assert len(observations) > 15_000
    started = time.perf_counter()
    result = index.match(observations)
    scanned = time.perf_counter() - started
    found = {
        (f.title, f.establishment)
        for f in result.findings
        if f.reason in (MatchReason.NAME_MENTION, MatchReason.DOMAIN)
    }
    known = registry.establishments
    victims = [v for v in VICTIMS["victims"] if v["finess"] is not None and v["finess"] in known]
    expected = {(_title(v["entry"]), v["finess"]) for v in victims if v["confidence"] == "sure"}
    # Also right, not required: the likely ones, and the second site of the CHI de l'Ouest Vosgien.
    allowed = expected | {(_title(v["entry"]), v["finess"]) for v in victims}
    allowed.add(("Centre hospitalier de l'Ouest Vosgien", "880000070"))
    assert sorted(expected - found) == []
    false_alarms = sorted(found - allowed)
    assert len(false_alarms) <= 1, false_alarms
    traps = {(_title(t["entry"]), n) for t in VICTIMS["traps"] for n in t["must_not_match"]}
    assert sorted(found & traps) == []
    print(f"index built in {built:.2f} s; {len(observations)} posts in {scanned:.2f} s, false alarms {false_alarms}")
