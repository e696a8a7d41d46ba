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


# The texts of the review of the name matcher (issue #14), on the full registry: each "must alert" text names
# exactly its establishment; each "must not alert" text names none (a saint's hospital, a town hall, a foreign
# hospital, a reception centre or a pharmacy sharing a hospital's word). (text, the post's country, FINESS)
MUST_ALERT = [
    ("Clinique Saint-Joseph de Trélazé", "", "490000262"),
    ("Hôpital Saint-Joseph, Marseille", "", "130785652"),
    ("Centre hospitalier d'Arles (Bouches-du-Rhône)", "", "130002827"),
    ("Centre hospitalier de Dax (Landes)", "", "400000105"),
    ("Hôpital d'Armentières (Nord)", "", "590000758"),
    ("CHU de Rennes (Ille-et-Vilaine)", "", "350000741"),
    ("CHU de Brest en Bretagne", "", "290000058"),
    ("Arles Hospital", "", "130002827"),
    ("Arles hospital hit by ransomware", "", "130002827"),
    ("Hospital of Arles", "", "130002827"),
    ("Armentières hospital", "", "590000758"),
    ("Dax hospital", "", "400000105"),
    ("Hôpital Necker-Enfants malades", "", "750100208"),
    ("Hôpital Necker Enfants Malades APHP", "", "750100208"),
    ("Hôpital Pitié-Salpêtrière AP-HP", "", "750100125"),
    ("Pitié Salpêtrière APHP", "", "750100125"),
    ("Institut Gustave Roussy", "", "940000664"),
    ("Hôpital Édouard-Herriot", "", "690783154"),
    ("Hôpital de la Timone", "", "130783293"),
    ("Hospices Civils de Lyon", "", "690029194"),
    ("Assistance Publique – Hôpitaux de Marseille", "", "130780521"),  # an AP-HM site, not HOPITAL EUROPEEN
    ("Hôpital de Saint-Paul", "", "970400065"),
    ("EHPAD de Pontpoint", "", "600008817"),
]
MUST_NOT_ALERT = [
    ("Hôpital Saint-Joseph", ""),
    ("Hôpital Saint-Louis", ""),
    ("Clinique Saint-Joseph", ""),
    ("Liège: Clinique Saint-Joseph", ""),
    ("Hôpital Saint-Paul", ""),
    ("Hôpital Saint-André", ""),
    ("Hôpital Saint-Benoît", ""),
    ("Hôpital Saint-Martin", ""),
    ("Hôpital Saint-Jean", ""),
    ("Clinique Saint-Paul", ""),
    ("Clinique Saint-Martin", ""),
    ("Clinique Saint-Louis", ""),
    ("Mairie de Pontpoint", "FR"),
    ("Commune de Pontpoint, Oise", "FR"),
    ("Mairie de Louveciennes", "FR"),
    ("Mairie d'Ivry-sur-Seine", ""),
    ("Ville d'Ivry-sur-Seine", ""),
    ("Paray-Vieille-Poste", ""),
    ("Le Pré-Saint-Gervais", ""),
    ("Hôpital Erasme", ""),
    ("ERASME HOSPITAL", ""),
    ("Erasme Hospital (Brussels)", ""),
    ("Saint Louis Hospital", ""),
    ("Saint-Louis Hospital Senegal", ""),
    ("Hôpital Européen Georges-Pompidou", ""),
    ("Hôpital Européen Georges Pompidou (AP-HP)", ""),
    ("CHU Saint-Pierre Bruxelles", ""),
    ("Belgique : le CHU Saint-Pierre touché par une cyberattaque", ""),
    ("Brussels hospital CHU Saint-Pierre hit by ransomware", ""),
    ("Montréal : l'Hôpital de Verdun victime d'une cyberattaque", ""),
    ("Québec - Hôpital de Verdun", ""),
]


@pytest.mark.slow
def test_the_reviews_texts_on_the_full_registry() -> None:
    _, index, _ = _index()
    wrong = [
        (text, found)
        for text, country, establishment in MUST_ALERT
        if (found := [m.establishment for m in index.names.matched(text, country)]) != [establishment]
    ]
    wrong += [
        (text, found)
        for text, country in MUST_NOT_ALERT
        if (found := [m.establishment for m in index.names.matched(text, country)])
    ]
    assert wrong == []
