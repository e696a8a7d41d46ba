"""Headers: control characters never reach a header, and the Subject folds so that it reads back as rendered."""

from __future__ import annotations

import dataclasses
import email
import email.header
import email.policy
import unicodedata
from email.message import EmailMessage

import hypothesis
import hypothesis.strategies
import pytest
from builders import (
    DOMAIN,
    ENV,
    IPV4,
    MESSAGE_ID,
    NOW,
    RECIPIENTS,
    SETTINGS,
    make_alert,
    parsed,
    render,
)

from alertd.domain.codes import MatchReason
from alertd.domain.establishments import Establishment
from alertd.domain.values import Indicator, IndicatorType
from alertd.render.context import email_context
from alertd.render.email import render_email
from alertd.render.headers import clean_header, fold_subject


def test_clean_header_strips_every_control_character() -> None:
    dirty = "Alerte\r\nBcc: evil@x\x00\x1b[31m rouge\x7f\x85\x9b\u2028ligne\u2029para\u202eesrever\ttab"
    clean = clean_header(dirty)
    for char in ("\r", "\n", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\t"):
        assert char not in clean
    assert clean == "Alerte Bcc: evil@x [31m rouge ligne para esrever tab"


def test_clean_header_collapses_whitespace_and_truncates() -> None:
    assert clean_header("  a   b \n\n c  ") == "a b c"
    long = "mot " * 100
    cut = clean_header(long, limit=50)
    assert len(cut) <= 50
    assert cut.endswith("…")
    assert clean_header("exactly ten", limit=11) == "exactly ten"
    assert len(clean_header("x" * 500)) == 200


def _raw_header(msg: EmailMessage, name: str) -> str:
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    return "\r\n".join(lines[start:end])


def _fits(line: str) -> bool:
    """Within 78 characters, unless the line holds one ASCII word too long to fold."""
    return len(line) <= 78 or (len(line.removeprefix("Subject:").split()) == 1 and "=?" not in line)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("padding", range(0, 120, 7))
def test_the_subject_decodes_to_exactly_the_rendered_text(language: str, padding: int) -> None:
    # Long non-ASCII subjects used to fold with a trailing space before an encoded-word ("Garonne  —").
    est = Establishment(id="1", name=f"Centre hospitalier {'é' * (padding % 3)}{'x' * padding} de la Garonne")
    est = dataclasses.replace(est, language=language)
    alerts = [make_alert(IPV4, est_id="1"), make_alert(DOMAIN, est_id="1", reason=MatchReason.DOMAIN)]
    for in_reply_to in (None, "<first@cert-sante.example>"):
        msg = render_email(
            ENV,
            est,
            alerts,
            RECIPIENTS,
            settings=SETTINGS.render,
            now=NOW,
            message_id=MESSAGE_ID,
            in_reply_to=in_reply_to,
        )
        expected = clean_header(
            ("Re: " if in_reply_to else "")
            + ENV.get_template("subject.txt.j2").render(email_context(est, alerts, SETTINGS.render, NOW))
        )
        assert "  " not in expected
        assert parsed(msg)["Subject"] == expected
        raw = _raw_header(msg, "Subject")
        assert str(email.header.make_header(email.header.decode_header(raw.removeprefix("Subject: ")))) == expected
        assert all(_fits(line) for line in raw.split("\r\n"))
        assert all(len(word) <= 75 for word in raw.split() if word.startswith("=?"))


def test_ascii_words_stay_readable_and_only_the_others_are_encoded() -> None:
    est = Establishment(id="1", name="Hôpital " + "of the West " * 8 + "Côte-d'Opale", language="en")
    msg = render_email(
        ENV, est, [make_alert(IPV4, est_id="1")], RECIPIENTS, settings=SETTINGS.render, now=NOW, message_id="<x@y>"
    )
    raw = _raw_header(msg, "Subject")
    assert raw.startswith("Subject: [TLP:AMBER] [IMMINENT] =?utf-8?q?H=C3=B4pital?= of the West")
    assert "\r\n " in raw and "  " not in raw.replace("\r\n", "")
    assert parsed(msg)["Subject"].startswith(f"[TLP:AMBER] [IMMINENT] {est.name} — 1 alert: compromised address")


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii words only",
        "é",
        "a é b",
        "é é é",
        "x" * 200,
        "mot " * 40 + "—",
        "— " * 60,
        "=?utf-8?q?a?= =?utf-8?q?b?=",
        "ends with space-less=?",
        "日本語のテキスト" * 10,
        "mixed 日本 words and 😀 emoji " * 4,
    ],
)
def test_fold_subject_round_trips(text: str) -> None:
    folded = fold_subject("Subject", text)
    assert folded.endswith("\r\n")
    lines = folded[:-2].split("\r\n")
    assert all(line.startswith(" ") for line in lines[1:])
    assert all(_fits(line) for line in lines)
    raw = folded.removeprefix("Subject: ").removesuffix("\r\n")
    message = email.message_from_bytes(f"Subject: {raw}\r\n\r\nbody".encode("ascii"), policy=email.policy.default)
    assert message["Subject"] == text
    assert str(email.header.make_header(email.header.decode_header(raw.replace("\r\n", "")))) == text


def test_an_encoded_word_lookalike_in_the_subject_is_shown_literally() -> None:
    lookalike = Indicator(IndicatorType.URL, "http://evil.example/=?utf-8?q?Bcc=3A_x?=")
    msg = render([make_alert(lookalike, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example")], language="en")
    assert "hxxp://evil[.]example/=?utf-8?q?Bcc=3A_x?=" in parsed(msg)["Subject"]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(hypothesis.strategies.text(min_size=1, max_size=220))
def test_fold_subject_round_trips_any_clean_text(raw: str) -> None:
    text = clean_header(raw, 204)
    hypothesis.assume(text)
    folded = fold_subject("Subject", text)
    assert all(_fits(line) for line in folded[:-2].split("\r\n"))
    message = email.message_from_bytes(f"{folded}\r\nbody".encode("ascii"), policy=email.policy.default)
    assert message["Subject"] == text


# Invisible format characters (Unicode category Cf) that make a header read differently from what it says.
INVISIBLE = {
    "LRM": "\u200e",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "ZWSP": "\u200b",
    "ZWNJ": "\u200c",
    "ZWJ": "\u200d",
    "word joiner": "\u2060",
    "BOM": "\ufeff",
    "soft hyphen": "\u00ad",
    "LRE": "\u202a",
    "RLI": "\u2067",
    "PDI": "\u2069",
    "tag": "\U000e0041",
}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_clean_header_strips_invisible_format_characters(char: str) -> None:
    cleaned = clean_header(f"{char}Micro{char}soft Exchange{char} — Hôpital{char}")
    assert char not in cleaned
    # Bidirectional controls become a space like other controls; the rest of Cf goes without a trace.
    assert cleaned.replace(" ", "") == "MicrosoftExchange—Hôpital"
    if char not in "\u202a\u2067\u2069":
        assert cleaned == "Microsoft Exchange — Hôpital"


def test_invisible_characters_reach_neither_the_subject_nor_the_from_name() -> None:
    hidden = "".join(INVISIBLE.values())
    est = Establishment(id="1", name=f"CHU{hidden} de Test{INVISIBLE['RLM']}", language="fr")
    settings = dataclasses.replace(
        SETTINGS.render, sender_from=f"CERT{INVISIBLE['ZWSP']} Santé{INVISIBLE['ALM']} <alertes@cert-sante.example>"
    )
    msg = render_email(
        ENV, est, [make_alert(IPV4, est_id="1")], RECIPIENTS, settings=settings, now=NOW, message_id="<x@y>"
    )
    read = parsed(msg)
    assert "CHU de Test" in read["Subject"]
    assert read["From"].addresses[0].display_name == "CERT Santé"
    assert read["From"].addresses[0].addr_spec == "alertes@cert-sante.example"
    for header in ("Subject", "From"):
        assert not any(unicodedata.category(c) == "Cf" for c in str(read[header]))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(hypothesis.strategies.text(min_size=1, max_size=220))
def test_no_format_or_control_character_survives_clean_header(raw: str) -> None:
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in clean_header(raw))
