"""The words: every code that reaches the reader has words in each bundled language, read from gettext catalogs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from builders import IPV4, NOW, SETTINGS, make_alert, make_establishment, render
from paths import ROOT

from alertd.domain.codes import AlertKind, MatchReason, RuleKind, SeverityRule
from alertd.domain.tlp import Tlp
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Severity
from alertd.render import catalog
from alertd.render.actions import ACTION_STEPS
from alertd.render.catalog import LANGUAGES, LOCALE, read_catalog, rule_text, words
from alertd.render.context import SHOWN_FACTS, email_context
from alertd.render.environment import make_environment

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_WITH_ARGUMENT = {RuleKind.FEED_SEVERITY: "feed", RuleKind.CVSS: "cvss"}


def _codes() -> list[tuple[str, str]]:
    """Every (context, code) that render looks up."""
    wanted = [("reason", str(r)) for r in MatchReason] + [("reason", "other")]
    wanted += [("rule", str(k)) for k in RuleKind if k is not RuleKind.UNKNOWN]
    wanted += [("severity", s.label) for s in Severity]
    wanted += [("feed-kind", str(k)) for k in FeedKind] + [("where", str(k)) for k in FeedKind]
    wanted += [("indicator-type", str(t)) for t in IndicatorType]
    wanted += [("summary", str(k)) for k in AlertKind]
    wanted += [("tlp", marking.value) for marking in Tlp]
    wanted += [("attr", fact.value) for fact in SHOWN_FACTS]
    wanted += [("action", f"{kind}.{step}") for kind, steps in ACTION_STEPS.items() for step in steps]
    wanted += [("action", step) for step in ("port", "kev.first", "kev.due-date", "kev.required-action")]
    return wanted


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_has_words(language: str) -> None:
    missing = [f"{context} {code}" for context, code in _codes() if not words(language).has(context, code)]
    assert missing == []


def test_both_catalogs_hold_the_same_messages_with_the_same_placeholders() -> None:
    fr, en = (read_catalog(language) for language in ("fr", "en"))
    keys = {lang: {(m.context, m.id) for m in cat if m.id} for lang, cat in (("fr", fr), ("en", en))}
    assert keys["fr"] == keys["en"]
    for context, code in keys["fr"]:
        fr_message, en_message = fr.get(code, context=context), en.get(code, context=context)
        assert fr_message is not None and en_message is not None
        assert not fr_message.fuzzy and not en_message.fuzzy
        assert set(_PLACEHOLDER.findall(str(fr_message.string))) == set(_PLACEHOLDER.findall(str(en_message.string)))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_po_files_are_valid(language: str) -> None:
    with (LOCALE / language / "LC_MESSAGES" / "alertd.po").open("rb") as po:
        parsed = read_po(po, abort_invalid=True)
    assert str(parsed.locale) == language


def test_the_wheel_ships_the_catalogs() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["alertd.render"]
    package = ROOT / "alertd" / "render"
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    assert shipped == {LOCALE / language / "LC_MESSAGES" / "alertd.po" for language in LANGUAGES}


@pytest.mark.parametrize(
    ("rule", "english", "french"),
    [
        (SeverityRule.feed_severity("certfr"), "feed certfr severity", "gravité fixée par le flux certfr"),
        (SeverityRule.of(RuleKind.COMPROMISE_REPORTED), "compromise reported", "compromission signalée"),
        (SeverityRule.of(RuleKind.LEAK_REPORTED), "leak reported", "établissement cité sur un site de fuite"),
        (SeverityRule.of(RuleKind.EXPOSED_SERVICE), "exposed vulnerable service", "service vulnérable exposé"),
        (SeverityRule.of(RuleKind.KEV), "known exploited vulnerability (KEV)", "vulnérabilité exploitée connue (KEV)"),
        (SeverityRule.cvss_at_least_7(9.85), "CVSS 9.8 >= 7", "CVSS 9,8 ≥ 7"),
        (SeverityRule.cvss_at_least_7(10.0), "CVSS 10.0 >= 7", "CVSS 10,0 ≥ 7"),
        (
            SeverityRule.of(RuleKind.NO_HIGHER_RULE),
            "matched, no higher rule applies",
            "correspondance, sans règle plus grave",
        ),
        (SeverityRule.unknown("rule of old"), "rule of old", "rule of old"),
    ],
)
def test_a_rule_code_reads_as_it_did_when_policy_wrote_sentences(rule: SeverityRule, english: str, french: str) -> None:
    assert rule_text("en", rule) == english
    assert rule_text("fr", rule) == french
    assert rule_text("de", rule) == english  # a language without a catalog reads English
    if rule.kind is not RuleKind.CVSS:  # the sentence kept one decimal of the score
        assert SeverityRule.from_json(english) == rule


def test_a_language_without_a_catalog_reads_english() -> None:
    assert words("de").language == catalog.DEFAULT_LANGUAGE == "en"
    context = email_context(make_establishment(language="de"), [make_alert(IPV4)], SETTINGS.render, NOW)
    assert context["lang"] == "en" and context["alerts"][0]["kind_label"] == "compromise"


def test_every_reason_code_is_explained_in_both_languages() -> None:
    for language in ("fr", "en"):
        for reason in MatchReason:
            alert = make_alert(Indicator(IndicatorType.NAME, "chu de bordeaux"), reason=reason, asset="CHU Bordeaux")
            context = email_context(make_establishment(language=language), [alert], SETTINGS.render, NOW)
            sentence = context["alerts"][0]["reason_text"]
            assert "CHU Bordeaux" in sentence
            assert sentence.endswith(".") and len(sentence.split()) >= 6  # a sentence, not the code


def test_unknown_reason_code_still_says_which_asset() -> None:
    # A reason without words in the catalog (a store written by a newer version, say) is still explained.
    alert = make_alert(IPV4, reason="new-rule", asset="147.210.0.0/16")  # type: ignore[arg-type]
    context = email_context(make_establishment(language="en"), [alert], SETTINGS.render, NOW)
    assert context["alerts"][0]["reason_text"] == "Matched your asset 147.210.0.0/16 (rule “new-rule”)."


@pytest.mark.parametrize(
    ("language", "leak", "severity"), [("fr", "fuite de données", "CRITIQUE"), ("en", "data leak", "CRITICAL")]
)
def test_an_operator_template_reads_the_catalog_of_the_email_language(
    tmp_path: Path, language: str, leak: str, severity: str
) -> None:
    (tmp_path / language).mkdir()
    (tmp_path / language / "subject.txt.j2").write_text(
        '{{ pgettext("feed-kind", "leak") }} / {{ pgettext("severity", "critical") }} / {% trans %}as is{% endtrans %}'
    )
    msg = render([make_alert(IPV4)], language=language, env=make_environment(tmp_path))
    assert msg["Subject"] == f"{leak} / {severity} / as is"
