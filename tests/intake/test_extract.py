"""Refanging, indicator extraction from free text, host normalisation and single-cell reading."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertd.domain.feeds import ColumnRole
from alertd.domain.values import Indicator, IndicatorType
from alertd.intake.extract import extract_indicators, indicator_for, normalise_host, refang

T = IndicatorType


@pytest.mark.parametrize(
    ("defanged", "plain"),
    [
        ("hxxp://evil[.]example/a", "http://evil.example/a"),
        ("hXXps://evil(.)example", "https://evil.example"),
        ("HXXPS://evil{.}example", "https://evil.example"),
        ("fxp://files[.]example/x", "ftp://files.example/x"),
        ("evil[dot]example", "evil.example"),
        ("evil [.] example", "evil.example"),
        ("hxxp[:]//198.51.100[.]7[:]8080/", "http://198.51.100.7:8080/"),
        ("hxxps[://]evil[.]example", "https://evil.example"),
        ("soc[at]chu.example", "soc@chu.example"),
        ("soc (at) chu.example", "soc@chu.example"),
        ("soc[@]chu.example", "soc@chu.example"),
        ("feodotracker [at] abuse.ch", "feodotracker@abuse.ch"),
        ("already http://plain.example/", "already http://plain.example/"),
        # "fxp" outside a scheme position is a word (a protocol name), not a defanged "ftp"
        ("the fxp transfer", "the fxp transfer"),
    ],
)
def test_refang(defanged: str, plain: str) -> None:
    assert refang(defanged) == plain


def test_cve_ids_are_upper_cased_and_found_inside_urls() -> None:
    found = extract_indicators(
        "Patch cve-2024-21762 and CVE-2023-12345678 now; see https://nvd.nist.gov/vuln/detail/CVE-2025-48384"
    )
    cves = [i.value for i in found if i.type is T.CVE]
    assert cves == ["CVE-2024-21762", "CVE-2023-12345678", "CVE-2025-48384"]


def test_cve_with_seven_digits() -> None:
    assert extract_indicators("CVE-2021-1234567") == (Indicator(T.CVE, "CVE-2021-1234567"),)


def test_defanged_url_is_refanged_and_trailing_punctuation_dropped() -> None:
    found = extract_indicators("C2 : hxxps://update-forti[.]net/sslvpn/login?id=3). Puis (voir hxxp://a[.]example/x),")
    assert found == (
        Indicator(T.URL, "https://update-forti.net/sslvpn/login?id=3"),
        Indicator(T.URL, "http://a.example/x"),
    )


def test_url_keeps_balanced_parentheses_and_lower_cases_only_scheme_and_host() -> None:
    found = extract_indicators("see HTTPS://Evil.Example/Wiki/Foo_(bar) now")
    assert found == (Indicator(T.URL, "https://evil.example/Wiki/Foo_(bar)"),)


def test_url_host_is_not_reported_again_as_domain_or_address() -> None:
    found = extract_indicators("http://evil.example/a and http://198.51.100.7:8080/b and evil.example")
    assert found == (
        Indicator(T.URL, "http://evil.example/a"),
        Indicator(T.URL, "http://198.51.100.7:8080/b"),
        Indicator(T.DOMAIN, "evil.example"),
    )


def test_ipv6_url() -> None:
    assert extract_indicators("http://[2001:db8::2]:8080/x") == (Indicator(T.URL, "http://[2001:db8::2]:8080/x"),)


def test_addresses_and_networks() -> None:
    found = extract_indicators(
        "Blocked 195.83.113.200, 10.1.2.3/8 and 2001:DB8:0:0::1 plus 2a06:e480::/29; 203.0.113[.]77. "
        "Not 1.2.3.999 nor 300.1.1.1 nor 12:30:45."
    )
    assert found == (
        Indicator(T.IPV4, "195.83.113.200"),
        Indicator(T.CIDR, "10.0.0.0/8"),
        Indicator(T.IPV6, "2001:db8::1"),
        Indicator(T.CIDR, "2a06:e480::/29"),
        Indicator(T.IPV4, "203.0.113.77"),
    )


def test_address_with_port() -> None:
    assert extract_indicators("C2 at 192.0.2.1:443") == (Indicator(T.IPV4, "192.0.2.1"),)


def test_version_numbers_are_not_addresses() -> None:
    text = "FortiOS version 7.2.4.1 et Chromium antérieures à 121.0.6167.160, build 10.0.17763.1"
    assert [i for i in extract_indicators(text) if i.type in (T.IPV4, T.CIDR)] == []


def test_email_addresses_are_lower_cased_and_not_reported_as_domains() -> None:
    found = extract_indicators("Écrire à SOC@CHU-Bordeaux.example ou cert [at] ssi.gouv.fr.")
    assert found == (
        Indicator(T.EMAIL, "soc@chu-bordeaux.example"),
        Indicator(T.EMAIL, "cert@ssi.gouv.fr"),
    )


def test_domains_lower_cased_idna_and_file_names_excluded() -> None:
    found = extract_indicators(
        "Fichiers setup.exe, report.pdf, index.html, Node.js et payload.zip ; domaines www.Example.ORG, "
        "evil-cdn.xyz. et hôpital-exemple.fr"
    )
    assert found == (
        Indicator(T.DOMAIN, "www.example.org"),
        Indicator(T.DOMAIN, "evil-cdn.xyz"),
        Indicator(T.DOMAIN, "xn--hpital-exemple-0ob.fr"),
    )


def test_domains_need_a_letter_tld() -> None:
    assert extract_indicators("versions 7.2.x and 1.2.3 and a.b1") == ()


def test_hashes() -> None:
    md5 = "D41D8CD98F00B204E9800998ECF8427E"
    sha1 = "2e3519b7cb61a3cd6167f727df993f68311085ea"
    sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    found = extract_indicators(f"md5 {md5}, sha1 {sha1}; sha256={sha256}. not {'a' * 48}")
    assert found == (
        Indicator(T.HASH, md5.lower()),
        Indicator(T.HASH, sha1),
        Indicator(T.HASH, sha256),
    )


def test_hash_inside_url_is_not_reported() -> None:
    url = "https://github.com/git/git/commit/2e3519b7cb61a3cd6167f727df993f68311085ea"
    assert extract_indicators(url) == (Indicator(T.URL, url),)


def test_duplicates_removed_in_first_seen_order() -> None:
    found = extract_indicators("CVE-2024-1111 evil.example CVE-2024-1111 198.51.100.1 EVIL.example 198.51.100.1")
    assert found == (
        Indicator(T.CVE, "CVE-2024-1111"),
        Indicator(T.DOMAIN, "evil.example"),
        Indicator(T.IPV4, "198.51.100.1"),
    )


def test_empty_text() -> None:
    assert extract_indicators("") == ()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_extract_never_fails_and_returns_normalised_values(text: str) -> None:
    for indicator in extract_indicators(text):
        if indicator.type in (T.IPV4, T.IPV6):
            assert str(ipaddress.ip_address(indicator.value)) == indicator.value
        elif indicator.type is T.CIDR:
            ipaddress.ip_network(indicator.value)
        elif indicator.type is T.DOMAIN:
            assert normalise_host(indicator.value) == indicator.value
        elif indicator.type is T.HASH:
            assert len(indicator.value) in (32, 40, 64)


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("Example.COM.", "example.com"),
        ("  www.chu-bordeaux.example ", "www.chu-bordeaux.example"),
        ("Hôpital.FR", "xn--hpital-ixa.fr"),
        ("xn--hpital-ixa.fr", "xn--hpital-ixa.fr"),
        ("198.51.100.7", "198.51.100.7"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("_dmarc.example.org", "_dmarc.example.org"),
        ("localhost", None),
        ("-bad.example", None),
        ("a..example", None),
        ("bad_tld.c0m", None),
        ("1.2.3.999", None),
        ("", None),
        ("x" * 64 + ".example", None),
        ("white space.example", None),
    ],
)
def test_normalise_host(value: str, host: str | None) -> None:
    assert normalise_host(value) == host


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        ("192.9.135.73", "ip", Indicator(T.IPV4, "192.9.135.73")),
        (' "192.9.135.73" ', "ip", Indicator(T.IPV4, "192.9.135.73")),
        ("84.247.157.112:13783", "ip", Indicator(T.IPV4, "84.247.157.112")),
        ("[2001:db8::1]:443", "ip", Indicator(T.IPV6, "2001:db8::1")),
        ("2001:DB8::1", "ip", Indicator(T.IPV6, "2001:db8::1")),
        ("198.51.100[.]7", "ip", Indicator(T.IPV4, "198.51.100.7")),
        ("1.2.3.999", "ip", None),
        ("not an ip", "ip", None),
        ("1.10.16.0/20", "cidr", Indicator(T.CIDR, "1.10.16.0/20")),
        ("1.10.16.5/20", "cidr", Indicator(T.CIDR, "1.10.16.0/20")),
        ("2a06:e480::/29", "cidr", Indicator(T.CIDR, "2a06:e480::/29")),
        ("SBL256894", "cidr", None),
        ("Marconuenlist.CH", "domain", Indicator(T.DOMAIN, "marconuenlist.ch")),
        ("evil[.]example", "host", Indicator(T.DOMAIN, "evil.example")),
        ("62.241.37.242", "host", Indicator(T.IPV4, "62.241.37.242")),
        ("localhost", "domain", None),
        (
            "http://marconuenlist.ch/verif.accounts.docs.net/",
            "url",
            Indicator(T.URL, "http://marconuenlist.ch/verif.accounts.docs.net/"),
        ),
        ("hxxp://Evil[.]Example/Path", "url", Indicator(T.URL, "http://evil.example/Path")),
        ("evil.example/gate.php", "url", Indicator(T.URL, "http://evil.example/gate.php")),
        ("http:///nohost", "url", None),
        ("Phish@Evil.Example", "email", Indicator(T.EMAIL, "phish@evil.example")),
        ("not-an-email", "email", None),
        ("AS2200", "asn", Indicator(T.ASN, "2200")),
        ("as 2200", "asn", Indicator(T.ASN, "2200")),
        ("29083", "asn", Indicator(T.ASN, "29083")),
        ("0", "asn", None),
        ("ASX", "asn", None),
        (
            "2E3519B7CB61A3CD6167F727DF993F68311085EA",
            "hash",
            Indicator(T.HASH, "2e3519b7cb61a3cd6167f727df993f68311085ea"),
        ),
        ("xyz", "hash", None),
        ("", "ip", None),
        ("   ", "url", None),
        ('""', "domain", None),
    ],
)
def test_indicator_for(value: str, hint: str, expected: Indicator | None) -> None:
    assert indicator_for(value, ColumnRole(hint)) == expected


def test_indicator_for_unknown_role_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not an indicator role"):
        indicator_for("x", ColumnRole.THREAT)
