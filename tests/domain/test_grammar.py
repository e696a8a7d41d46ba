"""The host and email grammars, and the differences between them that are there on purpose."""

from __future__ import annotations

import pytest

from alertd.domain import grammar


@pytest.mark.parametrize(
    ("text", "registry", "displayed"),
    [
        ("chu-exemple.fr", True, True),
        ("_dmarc.chu-exemple.fr", True, True),
        ("xn--hpital-dva.fr", True, True),
        ("hôpital.fr", False, True),  # the registry takes A-labels; an email shows what the feed wrote
        ("CHU-Exemple.FR", False, True),  # the registry's domains are lower-cased before the check
        ("chu-exemple.fr.", False, True),  # ... and lose their trailing dot
        ("13.1.49", True, False),  # a version to an email; the registry's grammar takes numeric labels
        ("example.123", True, False),
        ("-chu.fr", False, True),
        ("localhost", False, False),
        ("a" * 64 + ".fr", False, True),  # a label longer than 63 characters
        ("a." * 126 + "fr", False, True),  # longer than 253 characters
    ],
)
def test_registry_and_displayed_hosts(text: str, registry: bool, displayed: bool) -> None:
    assert bool(grammar.ASCII_DOMAIN.match(text)) is registry
    assert bool(grammar.DISPLAYED_HOST.match(text)) is displayed


@pytest.mark.parametrize(
    ("label", "valid"),
    [("chu", True), ("chu-bordeaux", True), ("_dmarc", True), ("-chu", False), ("chu-", False), ("a" * 64, False)],
)
def test_ascii_labels(label: str, valid: bool) -> None:
    assert bool(grammar.ASCII_LABEL.match(label)) is valid


@pytest.mark.parametrize(("tld", "valid"), [("fr", True), ("xn--p1ai", True), ("123", False), ("f", False)])
def test_ascii_top_level_labels(tld: str, valid: bool) -> None:
    assert bool(grammar.ASCII_TLD.match(tld)) is valid


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("le serveur evil.example.com a été vu", ["evil.example.com"]),
        ("l'hôte hôpital-exemple.fr est touché", ["hôpital-exemple.fr"]),
        ("écrire à soc@evil.example", []),  # the host of an email address is not a domain by itself
        ("la version 13.1.49", []),
        ("voir EVIL.Example.ORG.", ["EVIL.Example.ORG"]),
    ],
)
def test_domains_in_text(text: str, found: list[str]) -> None:
    assert [m.group(1) for m in grammar.DOMAIN_IN_TEXT.finditer(text)] == found


def test_emails_in_text() -> None:
    found = grammar.EMAIL_IN_TEXT.findall("de phish@evil-mail.example et de x.y+z@hôpital.fr, pas de @handle")
    assert found == ["phish@evil-mail.example", "x.y+z@hôpital.fr"]


@pytest.mark.parametrize(
    ("text", "contact", "displayed"),
    [
        ("rssi@chu-exemple.fr", True, True),
        ("RSSI <rssi@chu-exemple.fr>", False, False),
        ("<rssi@chu-exemple.fr>", False, True),  # a contact address must not carry header syntax
        ("rssi@localhost", False, False),
        ("rssi@@chu.fr", False, False),
    ],
)
def test_contact_and_displayed_emails(text: str, contact: bool, displayed: bool) -> None:
    assert bool(grammar.CONTACT_EMAIL.match(text)) is contact
    assert bool(grammar.DISPLAYED_EMAIL.match(text)) is displayed


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("CVE-2024-3400", True),
        ("CVE-2021-44228", True),
        ("CVE-2019-1010018", True),  # seven digits: assigned
        ("CVE-2024-" + "1" * 12, True),
        ("CVE-2024-" + "1" * 13, False),  # bounded, unlike what a hostile feed may write
        ("CVE-2024-123", False),
        ("cve-2024-3400", False),  # upper-cased before the check
        ("CVE-24-3400", False),
        (" CVE-2024-3400", False),
    ],
)
def test_cve_ids(text: str, valid: bool) -> None:
    assert bool(grammar.CVE_ID.match(text)) is valid


def test_cve_ids_in_text() -> None:
    text = "Patch cve-2024-3400 and CVE\u20112021\u201144228 (not CVE-2024-123 nor CVE-2024-1234567890123)."
    assert [m.groups() for m in grammar.CVE_IN_TEXT.finditer(text)] == [("2024", "3400"), ("2021", "44228")]


def test_email_cells_give_their_host() -> None:
    found = grammar.EMAIL_CELL.match("phish@evil-mail.example")
    assert found is not None and found.group(1) == "evil-mail.example"
    assert grammar.EMAIL_CELL.match("x" * 65 + "@evil.example") is None
