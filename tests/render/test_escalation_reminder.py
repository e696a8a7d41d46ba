"""The reminder of a warning left unanswered (contract §4, "Acknowledgements"): the subject and the first line
after the TLP marking say so, in the establishment's language, with French typography and dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import ENV, IPV4, MESSAGE_ID, NOW, RECIPIENTS, SETTINGS, bodies, make_alert, make_establishment

from alertd.render.email import as_message, render_message

SENT = datetime(2025, 3, 12, 8, 30, tzinfo=UTC)
ORIGINAL = "CERTSANTE-2025-ALE-0041"

EXPECTED = {
    "fr": ("Relance : alerte sans réponse depuis le 12 mars 2025 à 09 h 30 CET", "référence " + ORIGINAL),
    "en": ("Reminder: warning unanswered since 12 March 2025 at 09:30 CET", "reference " + ORIGINAL),
}


def _spaces(text: str) -> str:
    """French typography's no-break spaces as plain ones, for the test to read ("Relance :")."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_reminder_says_since_when_the_warning_is_unanswered(language: str) -> None:
    rendered = render_message(
        ENV,
        make_establishment(language=language),
        [make_alert(IPV4)],
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
        reference="CERTSANTE-2025-ALE-0042",
        ack_url="https://alertes.cert-sante.example/reponse/t",
        escalated=(ORIGINAL, SENT),
    )
    said, reference = EXPECTED[language]
    assert said in _spaces(rendered.subject)
    assert "[CERTSANTE-2025-ALE-0042]" in rendered.subject  # the reminder's own reference
    text, html = bodies(as_message(rendered.message))
    lines = [line for line in _spaces(text).splitlines() if line.strip()]
    assert lines[0].startswith("TLP:")
    assert lines[1].startswith(said) and reference in " ".join(lines[1:4])
    assert said in _spaces(html.replace("&nbsp;", " "))
    if language == "fr":  # the body keeps French typography: a no-break space before the colon
        assert "Relance\u00a0:" in text or "Relance\u202f:" in text


def test_an_ordinary_warning_says_nothing_of_a_reminder() -> None:
    rendered = render_message(
        ENV,
        make_establishment(),
        [make_alert(IPV4)],
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
    )
    text, _ = bodies(as_message(rendered.message))
    assert "Relance" not in rendered.subject and "Relance" not in text
