"""Defanging: indicators shown so that no mail client makes them clickable."""

from __future__ import annotations

import pytest
from builders import (
    CVE,
    DOMAIN,
    IPV4,
    IPV6,
    MAILBOX,
    URL,
)

from alertd.domain.values import Indicator, IndicatorType
from alertd.render.defang import defang, defang_indicator


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("http://evil.example/a.php?x=1", "hxxp://evil[.]example/a[.]php?x=1"),
        ("https://login.evil.example:8443/", "hxxps://login[.]evil[.]example:8443/"),
        ("HTTPS://Evil.example", "hxxps://Evil[.]example"),
        ("http://[2001:db8::1]:8080/x", "hxxp://[2001[:]db8[:][:]1]:8080/x"),
        ("evil.example/path/index.html", "evil[.]example/path/index[.]html"),
        ("evil.example", "evil[.]example"),
        ("sub.domain.évil.example", "sub[.]domain[.]évil[.]example"),
        ("147.210.1.5", "147[.]210[.]1[.]5"),
        ("147.210.0.0/16", "147[.]210[.]0[.]0/16"),
        ("147.210.1.5:443", "147[.]210[.]1[.]5:443"),
        ("2001:db8::1", "2001[:]db8[:][:]1"),
        ("2001:660:6101::/48", "2001[:]660[:]6101[:][:]/48"),
        ("::ffff:192.0.2.1", "[:][:]ffff[:]192[.]0[.]2[.]1"),
        ("phish@evil.example", "phish[@]evil[.]example"),
        ("CVE-2023-4966", "CVE-2023-4966"),
        ("d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"),
        ("Citrix NetScaler ADC 13.1-49.13", "Citrix NetScaler ADC 13.1-49.13"),
        ("13.1.49", "13.1.49"),
        ("CHU de Bordeaux", "CHU de Bordeaux"),
        ("AS2200", "AS2200"),
    ],
)
def test_defang_table(raw: str, shown: str) -> None:
    assert defang(raw) == shown


@pytest.mark.parametrize("raw", ["http://evil.example/a.b", "evil.example", "2001:db8::1", "a@b.example", "1.2.3.4"])
def test_defang_is_idempotent(raw: str) -> None:
    assert defang(defang(raw)) == defang(raw)


@pytest.mark.parametrize(
    ("ind", "shown"),
    [
        (IPV4, "147[.]210[.]1[.]5"),
        (IPV6, "2001[:]660[:]6101[:][:]5"),
        (DOMAIN, "vpn[.]chu-bordeaux[.]example"),
        (URL, "hxxp://evil-cdn[.]example/payload[.]exe"),
        (MAILBOX, "phish[@]evil-mail[.]example"),
        (Indicator(IndicatorType.CIDR, "192.0.2.0/24"), "192[.]0[.]2[.]0/24"),
        (Indicator(IndicatorType.CIDR, "2001:db8::/32"), "2001[:]db8[:][:]/32"),
        (CVE, "CVE-2023-4966"),
        (
            Indicator(IndicatorType.HASH, "e3b0c44298fc1c149afbf4c8996fb924"),
            "e3b0c44298fc1c149afbf4c8996fb924",
        ),
        (Indicator(IndicatorType.PRODUCT, "Node.js 18.1"), "Node.js 18.1"),
        (Indicator(IndicatorType.NAME, "Clinique Saint.Jean"), "Clinique Saint.Jean"),
        (Indicator(IndicatorType.ASN, "AS2200"), "AS2200"),
    ],
)
def test_defang_indicator_by_type(ind: Indicator, shown: str) -> None:
    assert defang_indicator(ind) == shown
