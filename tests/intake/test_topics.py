"""The advisory topic classifier: phishing and impersonation in French and English, read from bounded text."""

from __future__ import annotations

import pytest

from alertd.domain.codes import AdvisoryTopic, SourceStatus
from alertd.intake import topics

PHISHING = AdvisoryTopic.PHISHING


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Campagne d'hameçonnage visant des établissements de santé", None),
        ("CAMPAGNE D'HAMEÇONNAGE", None),  # case and accents do not matter
        ("Campagne d'hameconnage", None),  # nor does a missing cedilla
        ("Alerte", "Des attaquants se font passer pour l'Assurance maladie auprès des hôpitaux."),
        ("Alerte", "Un courriel se faisant passer pour la direction des ressources humaines circule."),
        ("Alerte", "Une campagne usurpe l'identité du Centre Hospitalier du Val de Lys."),
        ("Alerte", "De faux courriels de la CNAM demandent des identifiants."),
        ("Spear-phishing campaign against hospitals", None),
        ("Threat actors impersonating IT help desks", None),
        ("Alert", "Attackers spoof the sender address of a health insurer."),
        ("Alert", "Attackers are  pretending to be\nthe hospital's payroll service."),  # spaces folded
        ("Fraude au président : recrudescence", None),
    ],
)
def test_phishing_and_impersonation(title: str, summary: str | None) -> None:
    assert topics.classify(title, summary) is PHISHING


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Vulnérabilité dans Fortinet FortiOS (09 février 2024)", "Exécution de code arbitraire à distance."),
        ("Vulnérabilités dans Ivanti Connect Secure et Policy Secure", "CVE-2023-46805 et CVE-2024-21887."),
        # CERT-FR lists "usurpation d'identité" among the risks of product advisories: still a product's
        ("Multiples vulnérabilités dans Google Chrome", "Risques : usurpation d'identité, déni de service."),
        ("Chrome: UI spoofing (CVE-2024-1234)", "A spoofing flaw in the address bar."),
        ("Bulletin d'actualité CERTFR-2024-ACT-006", "Les vulnérabilités significatives de la semaine."),
        ("", None),
    ],
)
def test_no_topic(title: str, summary: str | None) -> None:
    assert topics.classify(title, summary) is None


def test_a_phishing_campaign_exploiting_a_flaw_is_still_phishing() -> None:
    summary = "Une campagne d'hameçonnage exploite la vulnérabilité CVE-2024-21412 de Windows SmartScreen."
    assert topics.classify("Alerte", summary) is PHISHING


def test_only_the_capped_text_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100,000 characters of title and of summary, the telling word past the cap: not read, so not found.
    long = "x" * 100_000
    assert topics.classify(long + " phishing", long + " hameçonnage") is None
    # The word within the cap is found.
    assert topics.classify("a" * (topics.MAX_TEXT - 20) + " phishing" + long) is PHISHING
    # What the comparisons see is bounded by the caps, whatever the input's length (no timing involved).
    seen: list[int] = []
    fold = topics.fold

    def spy(text: str) -> str:
        seen.append(len(text))
        return fold(text)

    monkeypatch.setattr(topics, "fold", spy)
    topics.classify(long * 10, long * 10)
    assert seen == [2 * topics.MAX_TEXT + 1]


def test_fold() -> None:
    assert topics.fold("  Hameçonnage\u00a0ÉLEVÉ\u2019s\n") == "hameconnage eleve's"


def test_topic_codes_read_back() -> None:
    assert AdvisoryTopic.of("phishing") is PHISHING
    assert AdvisoryTopic.of(None) is None
    assert AdvisoryTopic.of("") is None
    assert AdvisoryTopic.of("a-topic-of-a-later-version") is None


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("online", SourceStatus.ACTIVE),
        (" Online ", SourceStatus.ACTIVE),
        ("active", SourceStatus.ACTIVE),
        ("offline", SourceStatus.INACTIVE),
        ("OFFLINE", SourceStatus.INACTIVE),
        ("inactive", SourceStatus.INACTIVE),
        ("unknown", None),
        ("", None),
        (None, None),
    ],
)
def test_source_status(text: str | None, status: SourceStatus | None) -> None:
    assert SourceStatus.of(text) is status
