"""The acknowledgement page as rendered (contract §4, "Acknowledgements"): the email's language, every feed value
escaped, no script and no style attribute, the Content-Security-Policy matching its one style block; the refusal
page naming nobody."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from builders import ENV, IPV4, NOW, SETTINGS, make_alert, make_establishment

from alertd.domain.acknowledgement import AckResponse
from alertd.render.ackpage import BAD_FORM, EXPIRED, LIMITED, REFUSED, ack_page, refusal_page, security_policy

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> " onmouseover="x'


def page(language: str | None, **more: object) -> str:
    alert = make_alert(IPV4, title=HOSTILE, asset=HOSTILE)
    return ack_page(
        ENV,
        make_establishment(),
        [alert],
        SETTINGS.render,
        reference="CERTSANTE-2026-ALE-0042",
        sent=NOW,
        language=language,
        form_token="f0rm",
        **more,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("language", "words"),
    [("fr", ["Pris en compte", "Besoin d'aide", "Votre réponse"]), ("en", ["Acknowledged", "We need help"])],
)
def test_the_page_speaks_the_emails_language(language: str, words: list[str]) -> None:
    html = page(language)
    assert f'<html lang="{language}">' in html
    assert all(w.replace("'", "&#39;") in html for w in words)


def test_an_email_in_a_language_without_catalog_falls_back_to_the_establishments() -> None:
    assert '<html lang="fr">' in page("de") and '<html lang="fr">' in page(None)


def test_feed_values_are_escaped_and_nothing_runs() -> None:
    html = page("fr", responses=[(NOW, AckResponse.SEEN)], thanks=AckResponse.NOT_US)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html  # shown, escaped
    assert "<script" not in html and "<img" not in html and " style=" not in html
    assert html.count("<form ") == 4 and html.count('name="form" value="f0rm"') == 4
    assert 'id="thanks"' in html and 'id="received"' in html


def test_the_policy_allows_the_pages_own_style_and_nothing_else() -> None:
    html = page("fr")
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert security_policy(html) == (
        f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


@pytest.mark.parametrize("why", [REFUSED, EXPIRED, LIMITED, BAD_FORM])
def test_a_refusal_names_the_cert_only_in_both_languages(why: str) -> None:
    html = refusal_page(ENV, why, "CERT Santé")
    assert 'lang="fr"' in html and 'lang="en"' in html and "CERT Santé" in html
    assert "CHU de Bordeaux" not in html and "<form" not in html and "ALE-" not in html
