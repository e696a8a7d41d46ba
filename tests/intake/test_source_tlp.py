"""The TLP a source gives an entry is read and kept (issue #13 point 3): MISP tags, STIX markings, CSAF distribution.

Real samples, re-marked in memory where the test needs another marking than the one they carry.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.codes import MatchReason
from alertd.domain.facts import NO_FACTS
from alertd.domain.feeds import FeedFormat
from alertd.domain.tlp import Tlp
from alertd.domain.values import FeedKind, Finding, Indicator, IndicatorType, Observation
from alertd.intake.formats import csaf, misp, stix
from alertd.store.codecs import (
    finding_from_json,
    finding_to_json,
    observation_from_json,
    observation_to_json,
)

REDDRIVER = DATA / "misp" / "talos_2023-07_reddriver.json"  # tagged " TLP:WHITE"
CIRCL = DATA / "misp" / "circl_osint_feed_event_57c4445b-c548-4654-af0b-4be3950d210f.json"  # tagged tlp:white
INTERLOCK = DATA / "stix" / "talos_stix20_2024-11_emerging-interlock-ransomware.json"  # its report TLP 1.0 WHITE
CERBERUS = DATA / "csaf" / "icsa-24-074-09.json"  # distribution.tlp.label WHITE
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
TLP2_AMBER_STRICT = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"


def misp_event(data: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = data["response"][0]["Event"] if "response" in data else data["Event"]
    return event


def retag_misp(tag: str) -> bytes:
    """The Talos MISP event with its TLP tag replaced by ``tag``."""
    data = json.loads(REDDRIVER.read_bytes())
    for t in misp_event(data)["Tag"]:
        if t["name"].strip().lower().startswith("tlp:"):
            t["name"] = tag
    return json.dumps(data).encode()


def read_misp(body: bytes) -> list[Observation]:
    return misp.parse(make_feed_spec("talos-misp", FeedFormat.MISP), body)


def read_stix(data: dict[str, Any]) -> list[Observation]:
    return stix.parse(make_feed_spec("talos-stix", FeedFormat.STIX), json.dumps(data).encode())


def read_csaf(label: str | None) -> list[Observation]:
    data = json.loads(CERBERUS.read_bytes())
    if label is None:
        del data["document"]["distribution"]
    else:
        data["document"]["distribution"]["tlp"]["label"] = label
    return csaf.parse(make_feed_spec("cisa-csaf", FeedFormat.CSAF), json.dumps(data).encode())


# -- MISP --------------------------------------------------------------------------------------------------


def test_misp_event_tags_as_published() -> None:
    assert {o.tlp for o in read_misp(REDDRIVER.read_bytes())} == {Tlp.CLEAR}  # " TLP:WHITE", TLP 1.0's word
    assert {o.tlp for o in read_misp(CIRCL.read_bytes())} == {Tlp.CLEAR}


@pytest.mark.parametrize(
    ("tag", "marking"),
    [("tlp:red", Tlp.RED), ("tlp:amber+strict", Tlp.AMBER_STRICT), ("TLP:GREEN", Tlp.GREEN), ("tlp:ex:chr", Tlp.RED)],
)
def test_misp_event_tag_marks_every_attribute(tag: str, marking: Tlp) -> None:
    observations = read_misp(retag_misp(tag))
    assert len(observations) == 19
    assert {o.tlp for o in observations} == {marking}


def test_misp_without_tlp_tag_says_nothing() -> None:
    data = json.loads(REDDRIVER.read_bytes())
    event = misp_event(data)
    event["Tag"] = [t for t in event["Tag"] if not t["name"].strip().lower().startswith("tlp:")]
    assert {o.tlp for o in read_misp(json.dumps(data).encode())} == {None}


def test_misp_attribute_tag_is_stricter_than_its_event() -> None:
    data = json.loads(REDDRIVER.read_bytes())
    first = next(a for a in misp_event(data)["Attribute"] if a["type"] == "hostname" and a["to_ids"])
    first["Tag"] = [{"name": "tlp:red"}]
    observations = {o.entry: o for o in read_misp(json.dumps(data).encode())}
    assert observations[first["uuid"]].tlp is Tlp.RED
    assert {o.tlp for e, o in observations.items() if e != first["uuid"]} == {Tlp.CLEAR}


def test_two_event_tags_the_strictest_wins() -> None:
    data = json.loads(REDDRIVER.read_bytes())
    misp_event(data)["Tag"].append({"name": "tlp:amber"})
    assert {o.tlp for o in read_misp(json.dumps(data).encode())} == {Tlp.AMBER}


# -- STIX --------------------------------------------------------------------------------------------------


def test_stix_report_marking_covers_what_it_lists() -> None:
    data = json.loads(INTERLOCK.read_bytes())
    assert {o.tlp for o in read_stix(data)} == {Tlp.CLEAR}  # the report is TLP 1.0 WHITE


@pytest.mark.parametrize("ref", [TLP2_RED, TLP1_RED])
def test_stix_indicator_marked_red(ref: str) -> None:
    data = json.loads(INTERLOCK.read_bytes())
    target = next(o for o in data["objects"] if o["type"] == "indicator")
    target["object_marking_refs"] = [ref]
    observations = {o.entry: o for o in read_stix(data)}
    assert observations[target["id"]].tlp is Tlp.RED
    assert {o.tlp for e, o in observations.items() if e != target["id"]} == {Tlp.CLEAR}


def test_stix_marking_definition_of_the_bundle_read_by_its_definition() -> None:
    data = json.loads(INTERLOCK.read_bytes())
    own = "marking-definition--00000000-0000-4000-8000-00000000a3b1"
    data["objects"].append(
        {"type": "marking-definition", "id": own, "definition_type": "tlp", "definition": {"tlp": "amber"}}
    )
    data["objects"].append({"type": "marking-definition", "id": own + "2", "name": "TLP:AMBER+STRICT"})
    statement = {"statement": "Copyright 2024"}  # a marking that says nothing of TLP
    data["objects"].append(
        {"type": "marking-definition", "id": "marking-definition--statement-copyright", "definition": statement}
    )
    indicators = [o for o in data["objects"] if o["type"] == "indicator"]
    indicators[0]["object_marking_refs"] = [own]
    indicators[1]["object_marking_refs"] = [own + "2", "marking-definition--statement-copyright"]
    observations = {o.entry: o for o in read_stix(data)}
    assert observations[indicators[0]["id"]].tlp is Tlp.AMBER
    assert observations[indicators[1]["id"]].tlp is Tlp.AMBER_STRICT


def test_stix_marking_defined_nowhere_counts_as_red() -> None:
    # A TAXII page read incrementally lacks the custom definitions an earlier page carried: fail closed.
    data = json.loads(INTERLOCK.read_bytes())
    target = next(o for o in data["objects"] if o["type"] == "indicator")
    target["object_marking_refs"] = ["marking-definition--00000000-0000-4000-8000-0000000000ff"]
    observations = {o.entry: o for o in read_stix(data)}
    assert observations[target["id"]].tlp is Tlp.RED


def test_stix_without_markings_says_nothing() -> None:
    data = json.loads(INTERLOCK.read_bytes())
    for obj in data["objects"]:
        obj.pop("object_marking_refs", None)
    assert {o.tlp for o in read_stix(data)} == {None}
    data["objects"][0]["object_marking_refs"] = [TLP2_AMBER_STRICT]  # some object; an indicator only if listed
    assert {o.tlp for o in read_stix(data)} <= {None, Tlp.AMBER_STRICT}


# -- CSAF --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "marking"),
    [("WHITE", Tlp.CLEAR), ("AMBER+STRICT", Tlp.AMBER_STRICT), ("RED", Tlp.RED), ("GREEN", Tlp.GREEN), (None, None)],
)
def test_csaf_distribution_marks_every_vulnerability(label: str | None, marking: Tlp | None) -> None:
    observations = read_csaf(label)
    assert len(observations) == 3
    assert {o.tlp for o in observations} == {marking}


# -- the store keeps it ------------------------------------------------------------------------------------


def test_store_keeps_the_marking_and_leaves_unmarked_entries_as_they_were() -> None:
    red = read_misp(retag_misp("tlp:red"))[0]
    assert observation_from_json(observation_to_json(red)).tlp is Tlp.RED
    assert '"tlp"' not in observation_to_json(replace(red, tlp=None, facts=NO_FACTS))  # an earlier version's text
    finding = Finding(
        "e-chu",
        Indicator(IndicatorType.DOMAIN, "poilcy.itosha.top"),
        "itosha.top",
        MatchReason.DOMAIN,
        "talos-misp",
        FeedKind.COMPROMISE,
        red.entry,
        red.title,
        tlp=Tlp.AMBER_STRICT,
    )
    assert finding_from_json(finding_to_json(finding)).tlp is Tlp.AMBER_STRICT
    assert '"tlp"' not in finding_to_json(replace(finding, tlp=None))
    assert finding_from_json(finding_to_json(replace(finding, tlp=None))).tlp is None


def test_an_earlier_versions_rows_read_their_tlp_fact() -> None:
    """Before the typed field, MISP and CSAF parsers kept the label as a fact: it is read as the marking."""
    stored = json.loads(observation_to_json(read_misp(retag_misp("tlp:red"))[0]))
    del stored["tlp"]
    assert stored["attrs"]["tlp"] == "red"
    assert observation_from_json(json.dumps(stored)).tlp is Tlp.RED
    stored["attrs"]["tlp"] = "WHITE"
    assert observation_from_json(json.dumps(stored)).tlp is Tlp.CLEAR
    del stored["attrs"]["tlp"]
    assert observation_from_json(json.dumps(stored)).tlp is None
