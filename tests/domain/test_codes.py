"""The codes stages pass each other: match reasons, severity rules with their arguments, version evidence."""

from __future__ import annotations

import json

import pytest

from alertd.domain.codes import Evidence, MatchReason, RuleKind, SeverityRule


def test_match_reasons_keep_the_text_stores_and_json_output_hold() -> None:
    assert [str(r) for r in MatchReason] == [
        "address-in-network",
        "network-overlap",
        "domain",
        "asn",
        "kev-product",
        "cve-product",
        "product-mention",
        "name-mention",
    ]
    assert json.dumps({"reason": MatchReason.KEV_PRODUCT}) == '{"reason": "kev-product"}'


@pytest.mark.parametrize(
    ("sentence", "rule"),
    [
        ("feed certfr-alertes severity", SeverityRule.feed_severity("certfr-alertes")),
        ("compromise reported", SeverityRule.of(RuleKind.COMPROMISE_REPORTED)),
        ("leak reported", SeverityRule.of(RuleKind.LEAK_REPORTED)),
        ("exposed vulnerable service", SeverityRule.of(RuleKind.EXPOSED_SERVICE)),
        ("known exploited vulnerability (KEV)", SeverityRule.of(RuleKind.KEV)),
        ("CVSS 9.8 >= 7", SeverityRule.cvss_at_least_7(9.8)),
        ("CVSS 10.0 >= 7", SeverityRule.cvss_at_least_7(10.0)),
        ("matched, no higher rule applies", SeverityRule.of(RuleKind.NO_HIGHER_RULE)),
        # Anything else an earlier version (or a hand-edited store) holds is kept, with its text.
        ("CVSS high >= 7", SeverityRule.unknown("CVSS high >= 7")),
        ("feed a b severity", SeverityRule.unknown("feed a b severity")),
        ("compromise-asset", SeverityRule.unknown("compromise-asset")),
    ],
)
def test_the_english_sentences_earlier_versions_stored_read_as_codes(sentence: str, rule: SeverityRule) -> None:
    assert SeverityRule.from_json(sentence) == rule


_WITH_ARGUMENT = (RuleKind.FEED_SEVERITY, RuleKind.CVSS, RuleKind.UNKNOWN)


@pytest.mark.parametrize(
    "rule",
    [
        SeverityRule.feed_severity("feodo"),
        SeverityRule.cvss_at_least_7(9.85),
        SeverityRule.unknown("a rule of old"),
        *(
            SeverityRule.of(kind)
            for kind in RuleKind
            if kind not in (RuleKind.FEED_SEVERITY, RuleKind.CVSS, RuleKind.UNKNOWN)
        ),
    ],
)
def test_a_rule_survives_a_json_round_trip(rule: SeverityRule) -> None:
    assert SeverityRule.from_json(json.loads(json.dumps(rule.to_json()))) == rule


def test_a_rule_takes_exactly_its_own_argument() -> None:
    with pytest.raises(ValueError, match="takes cvss"):
        SeverityRule(RuleKind.CVSS)
    with pytest.raises(ValueError, match="takes feed"):
        SeverityRule(RuleKind.FEED_SEVERITY, cvss=9.0)
    with pytest.raises(ValueError, match="takes no argument"):
        SeverityRule(RuleKind.KEV, feed="kev")
    with pytest.raises(ValueError, match="not a stored severity rule"):
        SeverityRule.from_json(["kev"])


def test_version_evidence_has_one_definition() -> None:
    assert Evidence.of("version unknown") is Evidence.VERSION_UNKNOWN
    assert Evidence.of("13.1-49.13") is Evidence.DECLARED_VERSION
