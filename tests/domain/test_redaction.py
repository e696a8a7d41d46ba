"""A secret is masked as typed, quoted, percent-encoded, in hex and in base64 at any alignment."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from alertd.domain.redaction import MASK, Redactor

SECRET = "pa ss/wörd+41"
USER = "alertd"
RAW = SECRET.encode()


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        repr(SECRET),
        base64.b64encode(RAW).decode(),  # AUTH LOGIN
        base64.b64encode(b"\0" + USER.encode() + b"\0" + RAW).decode(),  # AUTH PLAIN
        base64.b64encode(USER.encode() + b"\0" + USER.encode() + b"\0" + RAW).decode(),  # PLAIN with authzid
        base64.b64encode(b"x" + RAW + b"yz").decode(),  # inside other bytes, shifted by one
        base64.b64encode(b"xy" + RAW).decode(),  # shifted by two
        base64.urlsafe_b64encode(b"x" + RAW).decode(),
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
        urllib.parse.quote(SECRET, safe="").lower(),
        RAW.hex(),
        RAW.hex().upper(),
    ],
)
def test_every_form_of_the_secret_is_masked(form: str) -> None:
    text = Redactor(SECRET, username=USER)(f"535 5.7.8 [{form}] rejected")
    assert text.startswith("535 5.7.8 [") and text.endswith("] rejected")
    assert MASK in text
    for piece in (SECRET, "wörd", base64.b64encode(RAW).decode()[:8], RAW.hex()[:8]):
        assert piece not in text


def test_other_text_is_left_alone() -> None:
    redact = Redactor(SECRET, username=USER)
    text = "login as 'alertd' refused: 535 5.7.8 Authentication credentials invalid; check delivery.smtp.username"
    assert redact(text) == text


def test_no_secret_masks_nothing() -> None:
    assert Redactor(None)("AGFsZXJ0ZAA=") == "AGFsZXJ0ZAA="
    assert Redactor("")("anything") == "anything"


def test_a_long_text_is_redacted_in_linear_time() -> None:
    # A relay's reply is attacker-shaped text: no quadratic backtracking on long base64-like runs.
    redact = Redactor(SECRET, username=USER)
    assert redact("A" * 500_000 + " " + SECRET) == "A" * 500_000 + " " + MASK
