"""The email's words for version evidence: which range, from which source, contains the declared version; or
plainly that the version was not checked (never "affecte <version>"); and the correction of a withdrawn warning."""

from __future__ import annotations

from html import unescape

from builders import CVE, ENV, MESSAGE_ID, NOW, RECIPIENTS, SETTINGS, bodies, make_alert, make_establishment, render

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule, VersionBasis
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.values import Alert, FeedKind, Finding, Severity
from alertd.render.catalog import words
from alertd.render.email import render_email

ASSET = "Citrix NetScaler ADC 13.1-48.47"


KEV_RULE = SeverityRule.of(RuleKind.KEV)


def vulnerability(version: VersionFact, rule: SeverityRule = KEV_RULE) -> Alert:
    return make_alert(
        CVE,
        reason=MatchReason.KEV_PRODUCT,
        asset=ASSET,
        kind=FeedKind.VULNERABILITY,
        severity=Severity.CRITICAL if not rule.unverified else Severity.HIGH,
        title="Citrix NetScaler ADC and Gateway buffer overflow",
        feed="cisa-kev",
        facts=Facts(version=version),
        rule=rule,
    )


def test_an_affected_version_names_the_range_and_its_source() -> None:
    fact = VersionFact.judged(VersionBasis.IN_RANGE, "13.1-48.47", ">=13.1|<13.1-49.13", "nvd")
    text, html = bodies(render([vulnerability(fact)]))
    assert "concernée\u00a0: dans la plage «\u00a0à partir de 13.1 et avant 13.1-49.13\u00a0» publiée par nvd" in text
    assert "à partir de 13.1 et avant 13.1-49.13" in html
    english, _ = bodies(render([vulnerability(fact)], language="en"))
    assert "affected: inside the range “from 13.1 and before 13.1-49.13” published by nvd" in english


def test_an_unverified_version_is_said_so_and_never_affected() -> None:
    fact = VersionFact.judged(VersionBasis.NO_RANGE, "13.1-48.47")
    alert = vulnerability(fact, SeverityRule.of(RuleKind.KEV).lowered())
    text, html = bodies(render([alert]))
    assert "affecte" not in text and "affecte" not in html
    assert "touche un produit de votre inventaire\u202f; nous n'avons pas pu vérifier votre version" in text
    assert "touche le produit Citrix NetScaler ADC, présent dans votre inventaire" in text
    assert "nous n'avons pas pu vérifier que votre version est concernée" in text
    assert "non vérifiée\u00a0: aucune source ne publie encore les versions vulnérables" in text
    # The severity is a level ("niveau", masculine): never "abaissée", which read as agreeing with the rule.
    assert "niveau abaissé d'un cran\u00a0: version non vérifiée" in text
    check = "si la version que vous utilisez (Citrix NetScaler ADC) est concernée"
    assert check in text
    english, _ = bodies(render([alert], language="en"))
    assert "affects" not in english and "concerns the product Citrix NetScaler ADC" in english
    assert "lowered one level: version not checked" in english
    unknown = VersionFact.judged(VersionBasis.NO_VERSION, None)
    text, _ = bodies(render([vulnerability(unknown, SeverityRule.of(RuleKind.KEV).lowered())]))
    assert "votre inventaire ne déclare pas de version" in text


def test_a_withdrawn_warning_comes_back_as_a_correction() -> None:
    fact = VersionFact.judged(VersionBasis.FIXED_VERSION, "13.1-49.13", ">=13.1-49.13", "vendor-csaf")
    withdrawn = Finding(
        "330781196",
        CVE,
        "Citrix NetScaler ADC 13.1-49.13",
        MatchReason.KEV_PRODUCT,
        "cisa-kev",
        FeedKind.VULNERABILITY,
        "CVE-2023-4966",
        "Citrix Bleed",
        facts=Facts(version=fact),
    )
    other = make_alert(CVE, reason=MatchReason.KEV_PRODUCT, kind=FeedKind.VULNERABILITY, asset=ASSET)
    msg = render_email(
        ENV,
        make_establishment(),
        [other],
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
        resolved=[withdrawn],
    )
    text, html = bodies(msg)
    title = "Correction\u00a0: finalement non concernés"  # a no-break space before ":" (the HTML writes &nbsp;)
    assert title in text and title in unescape(html)
    assert (
        "finalement non concernée\u00a0: votre version contient le correctif, "
        "publié par vendor-csaf en version 13.1-49.13" in text
    )
    assert "Ne sont plus signalés" not in text  # a withdrawal is not a delisting


def test_every_basis_has_words_in_both_languages() -> None:
    for language in ("fr", "en"):
        catalog = words(language)
        for basis in VersionBasis:
            shown = catalog.evidence(VersionFact.judged(basis, "1.0", "<2.0", "nvd"))
            assert shown and "{" not in shown, (language, basis)
