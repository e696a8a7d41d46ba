"""The text part as format=flowed (RFC 3676): wrapped at 72 columns, joined back by a flowed reader."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from builders import join_hanging, many_alerts, render, unflow

from alertd.render.flowed import WIDTH, wrap

PARAGRAPH = (
    "Un équipement ou un service de votre établissement est signalé comme compromis ou utilisé par des attaquants "
    "(serveur de commande, botnet, hébergement de logiciels malveillants, hameçonnage). Agissez maintenant."
)
URL = "https://support.citrix.com/article/CTX579459/netscaler-adc-and-netscaler-gateway-security-bulletin-for-cve"


def test_a_long_paragraph_is_soft_broken_and_joins_back() -> None:
    wrapped = wrap(PARAGRAPH)
    lines = wrapped.splitlines()
    assert len(lines) > 1
    assert all(line.endswith(" ") for line in lines[:-1]) and not lines[-1].endswith(" ")
    assert all(len(line.rstrip(" ")) <= WIDTH for line in lines)
    assert "".join(lines) == PARAGRAPH  # delsp=no: the space ending a soft line is the one between two words
    assert unflow(wrapped) == PARAGRAPH


def test_a_short_line_is_left_as_it_is_and_a_hard_line_loses_its_trailing_spaces() -> None:
    assert wrap("Bonjour,\n\nMerci.\n") == "Bonjour,\n\nMerci.\n"
    assert wrap("Bonjour,   \n") == "Bonjour,\n"  # a trailing space would be read as a soft break


def test_the_signature_separator_is_kept() -> None:
    assert wrap("Merci.\n-- \nCERT Santé\n") == "Merci.\n-- \nCERT Santé\n"
    assert unflow(wrap("Merci.\n-- \nCERT Santé\n")) == "Merci.\n-- \nCERT Santé\n"


@pytest.mark.parametrize("start", [" indented", ">=13.1 is the range", "From the source"])
def test_lines_that_a_reader_would_misread_are_space_stuffed(start: str) -> None:
    assert wrap(start) == " " + start
    assert unflow(wrap(start)) == start


def test_a_soft_broken_line_starting_with_from_is_stuffed() -> None:
    text = "x" * 60 + " and then " + "From here on " + "the rest of the words."
    wrapped = wrap(text)
    assert any(line.startswith(" From") for line in wrapped.splitlines())
    assert unflow(wrapped) == text


def test_a_token_longer_than_the_width_is_kept_whole_on_its_own_line() -> None:
    text = f"Référence                      : {URL}"
    lines = wrap(text).splitlines()
    assert URL in lines
    assert unflow(wrap(text)) == text


def test_a_no_break_space_is_never_a_break() -> None:
    text = ("mot " * 16) + "24 mars 2022 à 08\u00a0h\u00a030 CET et Motif\u00a0: la suite du texte ici."
    for line in wrap(text).splitlines():
        assert not line.endswith("08\u00a0h ") and not line.startswith("30")
    assert "08\u00a0h\u00a030" in wrap(text)


def test_a_list_item_hangs_under_its_text() -> None:
    item = "  - " + PARAGRAPH
    lines = wrap(item).splitlines()
    assert lines[0].startswith("   - ")  # stuffed: it starts with a space
    assert all(line.startswith("     ") and line[5] != " " for line in lines[1:])  # the text's column, stuffed
    assert not any(line.endswith(" ") for line in lines)  # hard breaks: a list is read as a list anywhere
    assert all(len(line) <= WIDTH + 1 for line in lines)
    assert join_hanging(unflow(wrap(item))) == item
    numbered = "  12. [CRITIQUE] " + PARAGRAPH
    assert join_hanging(unflow(wrap(numbered))) == numbered


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_text_part_is_flowed_and_no_line_is_over_78_columns(language: str) -> None:
    msg = render(many_alerts(), language=language)
    back = message_from_bytes(msg.as_bytes(), policy=policy.default)
    text_part = next(p for p in back.walk() if p.get_content_type() == "text/plain")
    assert text_part.get_param("format") == "flowed" and text_part.get_param("delsp") == "no"
    assert text_part["Content-Transfer-Encoding"] == "quoted-printable"  # keeps the trailing spaces
    text = text_part.get_content()
    for line in text.splitlines():
        assert len(line) <= 78 or " " not in line.strip(), line  # but a single unbreakable token
    soft = [line for line in text.splitlines() if line.endswith(" ") and line != "-- "]
    assert soft  # the paragraphs are soft-broken, and a flowed reader joins them
    assert max(len(line) for line in unflow(text).splitlines()) > 78
