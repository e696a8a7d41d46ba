"""The words: every code that reaches the reader has words in each bundled language."""

from __future__ import annotations

from builders import (
    IPV4,
    NOW,
    SETTINGS,
    make_alert,
    make_establishment,
)

from alertd.domain.codes import MatchReason
from alertd.domain.values import Indicator, IndicatorType
from alertd.render.context import email_context


def test_every_reason_code_is_explained_in_both_languages() -> None:
    for language in ("fr", "en"):
        for reason in tuple(MatchReason):
            alert = make_alert(Indicator(IndicatorType.NAME, "chu de bordeaux"), reason=reason, asset="CHU Bordeaux")
            context = email_context(make_establishment(language=language), [alert], SETTINGS, NOW)
            sentence = context["alerts"][0]["reason_text"]
            assert "CHU Bordeaux" in sentence
            assert sentence.endswith(".") and len(sentence.split()) >= 6  # a sentence, not the code


def test_unknown_reason_code_still_says_which_asset() -> None:
    # A reason without words in the catalog (a store written by a newer version, say) is still explained.
    alert = make_alert(IPV4, reason="new-rule", asset="147.210.0.0/16")  # type: ignore[arg-type]
    context = email_context(make_establishment(language="en"), [alert], SETTINGS, NOW)
    assert context["alerts"][0]["reason_text"] == "Matched your asset 147.210.0.0/16 (rule “new-rule”)."
