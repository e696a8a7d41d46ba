"""Typed facts: each fact a later stage reads is a field, the rest stays in ``extra``, and the store's text of
earlier versions' ``attrs`` reads back and writes again byte for byte."""

from __future__ import annotations

import ast
import dataclasses
import json
import math

import pytest
from paths import ROOT

from alertd.domain.codes import Evidence
from alertd.domain.facts import NO_FACTS, UNKNOWN_VERSION, VERSION_FACTS, Fact, Facts, VersionFact
from alertd.store.codecs import finding_from_json, finding_to_json, observation_from_json, observation_to_json

# A KEV entry as an earlier version stored it: facts no stage reads first, the matcher's version in the middle.
KEV_ATTRS = {
    "vendor": "Citrix",
    "product": "NetScaler ADC",
    "version": "13.1-49.13",
    "date_added": "2023-10-18",
    "due_date": "2023-11-08",
    "ransomware": "Known",
    "notes": "",
    "cwes": "CWE-119",
}


def test_every_fact_is_a_field_named_by_its_key() -> None:
    fields = {f.name for f in dataclasses.fields(Facts)}
    # A version's evidence, range and source are the version fact's own, stored beside it (VersionFact.stored).
    own = {fact.value for fact in Fact if fact not in VERSION_FACTS or fact is Fact.VERSION}
    assert own <= fields
    assert fields - own == {"extra", "order"}


def test_known_keys_fill_fields_and_the_others_stay_in_extra_in_the_feed_order() -> None:
    facts = Facts.from_json(KEV_ATTRS)
    assert facts.date_added == "2023-10-18" and facts.ransomware == "Known" and facts.cwes == "CWE-119"
    assert facts.notes == ""  # given empty: kept, unlike a fact the feed does not give
    assert facts.malware is None and facts.cvss is None
    assert facts.version == VersionFact.declared_as("13.1-49.13")
    assert dict(facts.extra) == {"vendor": "Citrix", "product": "NetScaler ADC"}
    assert list(facts.to_json().items()) == list(KEV_ATTRS.items())
    assert [fact for fact, _text in facts.known()] == [
        Fact.VERSION,
        Fact.DATE_ADDED,
        Fact.DUE_DATE,
        Fact.RANSOMWARE,
        Fact.NOTES,
        Fact.CWES,
    ]


def test_an_old_row_encodes_again_byte_for_byte() -> None:
    observation = {
        "attrs": {"advisory": "ICSA-1", "cvss": "9.8", "cvss_vector": "CVSS:3.1/AV:N", "cwe": "CWE-79", "é": "ü"},
        "entry": "ICSA-1#CVE-2024-1",
        "exploited": False,
        "feed": "csaf",
        "indicators": [["cve", "CVE-2024-1"]],
        "kind": "advisory",
        "link": None,
        "products": [],
        "published": None,
        "text": "",
        "title": "An advisory",
    }
    text = json.dumps(observation, ensure_ascii=False, sort_keys=True)
    back = observation_from_json(text)
    assert back.facts.cvss == "9.8" and back.facts.cwe == "CWE-79"
    assert dict(back.facts.extra) == {"advisory": "ICSA-1", "cvss_vector": "CVSS:3.1/AV:N", "é": "ü"}
    assert observation_to_json(back) == text

    finding = {
        "establishment": "e",
        "indicator": ["cve", "CVE-2023-4966"],
        "asset": "Citrix NetScaler ADC 13.1-49.13",
        "reason": "kev-product",
        "feed": "cisa-kev",
        "kind": "vulnerability",
        "entry": "CVE-2023-4966",
        "title": "Citrix Bleed",
        "link": None,
        "published": None,
        "attrs": KEV_ATTRS,  # not sorted in a finding's row: the order is kept as it was
    }
    text = json.dumps(finding, ensure_ascii=False)
    assert finding_to_json(finding_from_json(text)) == text


def test_a_stored_fact_must_be_text() -> None:
    with pytest.raises(ValueError, match="not a stored fact"):
        Facts.from_json({"cvss": 9.8})


def test_facts_built_by_keyword_come_in_the_fields_order_then_extra_then_the_version() -> None:
    facts = Facts(cvss="7.5", malware="QakBot", version=UNKNOWN_VERSION, extra={"c2_status": "online"})
    assert list(facts.to_json()) == ["malware", "cvss", "c2_status", "version"]
    assert Facts.from_json(facts.to_json()) == facts
    assert NO_FACTS.to_json() == {}
    assert Facts.of({}) == NO_FACTS


def test_equality_ignores_the_order_as_a_mapping_did() -> None:
    given: dict[Fact | str, str] = {"port": "443", Fact.MALWARE: "QakBot"}  # a CSV's columns, port first
    assert Facts.of(given) == Facts(malware="QakBot", port="443")
    assert list(Facts.of(given).to_json()) == ["port", "malware"]


def test_an_extra_fact_cannot_shadow_a_field() -> None:
    with pytest.raises(ValueError, match="fields of their own"):
        Facts(extra={"cvss": "9.8"})


def test_the_matcher_adds_the_version_last_or_where_the_feed_had_one() -> None:
    given: dict[Fact | str, str] = {"labels": "botnet", Fact.MALWARE: "Emotet"}
    facts = Facts.of(given)
    with_version = facts.with_version(VersionFact.declared_as("7.2.4"))
    assert with_version.to_json() == {"labels": "botnet", "malware": "Emotet", "version": "7.2.4"}
    assert list(with_version.to_json()) == ["labels", "malware", "version"]  # as {**attrs, "version": v} did
    assert facts.version is None  # the observation's own facts are left as they were
    replaced = Facts.of({"version": "1.0", "port": "22"}).with_version(UNKNOWN_VERSION)
    assert list(replaced.to_json().items()) == [("version", "version unknown"), ("port", "22")]


@pytest.mark.parametrize(
    ("text", "score"),
    [("9.8", 9.8), ("10", 10.0), (" 7.5 ", 7.5), ("0.0", 0.0), ("n/a", None), ("", None), ("9,8", None)],
)
def test_the_cvss_score_reads_the_text_the_feed_wrote(text: str, score: float | None) -> None:
    facts = Facts(cvss=text)
    assert facts.cvss == text  # shown as written
    assert facts.cvss_score == score


def test_no_cvss_and_odd_numbers() -> None:
    assert NO_FACTS.cvss_score is None
    nan = Facts(cvss="nan").cvss_score
    assert nan is not None and math.isnan(nan)  # as float() reads it: never >= 7, so policy says info


def test_the_version_fact_carries_its_evidence() -> None:
    assert VersionFact.of("version unknown") is UNKNOWN_VERSION
    assert VersionFact.of(Evidence.VERSION_UNKNOWN) is UNKNOWN_VERSION
    assert UNKNOWN_VERSION.text == "version unknown" and UNKNOWN_VERSION.declared is None
    declared = VersionFact.of("13.1-49.13")
    assert declared.evidence is Evidence.DECLARED_VERSION and declared.text == "13.1-49.13"
    with pytest.raises(ValueError):
        VersionFact(Evidence.VERSION_UNKNOWN, "1.0")
    with pytest.raises(ValueError):
        VersionFact(Evidence.DECLARED_VERSION)


def test_no_stage_reads_facts_by_a_string_key() -> None:
    # The parsers write facts; match, policy and render read them by field. None goes back to the bag.
    found = []
    for stage in ("intake", "match", "policy", "render"):
        for path in sorted((ROOT / "alertd" / stage).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "attrs":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .attrs")
                if isinstance(node, ast.Attribute) and node.attr == "extra" and stage != "intake":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .extra")
    assert found == []


def test_findings_of_an_observation_without_facts_share_one_value_per_version() -> None:
    version = VersionFact.declared_as("7.2.4")
    assert NO_FACTS.with_version(version) is NO_FACTS.with_version(VersionFact.of("7.2.4"))
    assert NO_FACTS.with_version(version) == Facts(version=version)
    assert NO_FACTS.version is None
