"""The personal link of an email (contract §4, "Acknowledgements"): the token, what it refuses, and the link in
both parts of the email, not defanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import ENV, IPV4, MESSAGE_ID, NOW, RECIPIENTS, SETTINGS, bodies, make_alert, make_establishment, unflow

from alertd.render.acklink import (
    MAX_TOKEN_CHARS,
    AckKey,
    AckLinks,
    BadToken,
    ExpiredToken,
    form_token,
    form_token_ok,
    read_token,
    sign_token,
)
from alertd.render.email import render_email

KEY = AckKey(b"k" * 32)
OTHER_KEY = AckKey(b"o" * 32)
LATER = NOW + timedelta(days=30)
TOKEN = sign_token(KEY, "330781196", "CERTSANTE-2026-ALE-0042", LATER)


def test_a_token_says_whose_email_until_when() -> None:
    claims = read_token(KEY, TOKEN, NOW)
    assert (claims.establishment, claims.reference) == ("330781196", "CERTSANTE-2026-ALE-0042")
    assert claims.expires == LATER.replace(microsecond=0)
    assert TOKEN.replace("-", "").replace("_", "").replace(".", "").isalnum()  # URL-safe as it is


def test_past_its_expiry_a_token_is_expired() -> None:
    with pytest.raises(ExpiredToken):
        read_token(KEY, TOKEN, LATER)


def test_another_keys_token_is_refused() -> None:
    with pytest.raises(BadToken) as refused:
        read_token(KEY, sign_token(OTHER_KEY, "330781196", "CERTSANTE-2026-ALE-0042", LATER), NOW)
    assert not isinstance(refused.value, ExpiredToken)


@pytest.mark.parametrize(("establishment", "reference"), [("330780000", None), (None, "CERTSANTE-2026-ALE-0043")])
def test_claims_changed_under_a_signature_are_refused(establishment: str | None, reference: str | None) -> None:
    # Another establishment's, or another email's, claims carried with this token's signature.
    other = sign_token(KEY, establishment or "330781196", reference or "CERTSANTE-2026-ALE-0042", LATER)
    forged = other.partition(".")[0] + "." + TOKEN.partition(".")[2]
    with pytest.raises(BadToken):
        read_token(KEY, forged, NOW)


def test_an_expiry_pushed_back_is_refused() -> None:
    longer = sign_token(OTHER_KEY, "330781196", "CERTSANTE-2026-ALE-0042", LATER + timedelta(days=365))
    with pytest.raises(BadToken):
        read_token(KEY, longer.partition(".")[0] + "." + TOKEN.partition(".")[2], NOW)


@pytest.mark.parametrize(
    "token",
    [
        TOKEN[:-1],  # truncated
        TOKEN[: len(TOKEN) // 2],
        TOKEN.partition(".")[0],  # no signature
        "." + TOKEN.partition(".")[2],  # no claims
        TOKEN + "A",
        TOKEN.replace(".", "!"),
        "",
        "a" * (MAX_TOKEN_CHARS + 1),
        TOKEN[:-2] + "é",
        "%%%.%%%",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(BadToken):
        read_token(KEY, token, NOW)


def test_the_form_token_is_bound_to_its_link_and_is_no_link() -> None:
    mark = form_token(KEY, TOKEN)
    assert form_token_ok(KEY, TOKEN, mark)
    other = sign_token(KEY, "330781196", "CERTSANTE-2026-ALE-0043", LATER)
    assert not form_token_ok(KEY, other, mark)
    assert not form_token_ok(OTHER_KEY, TOKEN, mark)
    assert not form_token_ok(KEY, TOKEN, "")
    assert not form_token_ok(KEY, TOKEN, "é" * 43)
    with pytest.raises(BadToken):
        read_token(KEY, mark, NOW)


def test_the_key_is_never_shown_and_a_short_one_is_refused() -> None:
    assert "kkkk" not in repr(KEY) and "kkkk" not in repr(AckLinks(KEY, "https://a.example/r", timedelta(days=1)))
    with pytest.raises(ValueError, match="at least 32"):
        AckKey(b"short")


@pytest.mark.parametrize(("language", "words"), [("fr", "Répondre à cette alerte"), ("en", "Respond to this warning")])
def test_both_parts_carry_the_link_undefanged(language: str, words: str) -> None:
    links = AckLinks(KEY, "https://alertes.cert-sante.example/reponse", timedelta(days=30))
    url = links.url("330781196", "CERTSANTE-2026-ALE-0042", NOW)
    text, html = _bodies(language, url)
    assert words in unflow(text) and url in unflow(text).split()
    assert f'href="{url}"' in html and words in html
    assert read_token(KEY, url.rpartition("/")[2], NOW).reference == "CERTSANTE-2026-ALE-0042"


def test_without_web_no_email_has_a_link() -> None:
    text, html = _bodies("fr", None)
    assert "Répondre à cette alerte" not in text and "respond-link" not in html


def _bodies(language: str, ack_url: str | None) -> tuple[str, str]:
    """The text and HTML of a one-alert email with that link (or none)."""
    msg = render_email(
        ENV,
        make_establishment(language=language),
        [make_alert(IPV4)],
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
        reference="CERTSANTE-2026-ALE-0042",
        ack_url=ack_url,
    )
    return bodies(msg)
