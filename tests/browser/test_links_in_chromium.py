"""Every link of every example email, as headless Chromium reads it (issue #13 point 4): each ``<a href>`` goes to
the CERT's own domains or a known source's, by the host the browser itself parses out of it.

The examples are alertd's own emails; a hostile one adds what a feed may try: a lookalike of the CERT's domain
(a Cyrillic "с"), a host that only starts with a known source's, a user part before it, a backslash that a
browser reads as "/". The browser, not Python, says where each link goes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import ChromiumMissingError, chromium, chromium_path, show
from example_emails import NAMES, examples
from paths import ROOT
from playwright.sync_api import Browser, Page

from alertd.domain.codes import MatchReason
from alertd.domain.facts import Facts
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity
from alertd.render.email import render_email
from alertd.render.environment import make_environment
from alertd.render.links import allowed_domains, allowed_host

# render_examples.py is a script beside the examples, not a module of the package: reach it by its folder. Its
# values (settings, establishment) are those of the example emails.
_EXAMPLES = ROOT / "templates" / "examples"
if str(_EXAMPLES) not in sys.path:
    sys.path.insert(0, str(_EXAMPLES))
import render_examples  # noqa: E402

# Each link as the browser resolved it: its scheme and its host.
_LINKS = "() => Array.from(document.querySelectorAll('a[href]'), a => [a.protocol, a.hostname, a.href])"
# Links a feed may give, none of them to an allowed host however it is read.
HOSTILE_LINKS = (
    "https://\u0441ert-sante.example/fuites/ch-garonne",
    "https://xn--ert-sante-u3h.example/fuites/ch-garonne",
    "https://evil.example\\@nvd.nist.gov/vuln/detail/CVE-2023-4966",
    "https://nvd.nist.gov@evil.example/vuln/detail/CVE-2023-4966",
    "https://nvd.nist.gov.evil.example/vuln/detail/CVE-2023-4966",
    "https://www.cert.ssi.gouv.fr%2eevil.example/avis/",
    "http://198.51.100.7/advisory",
    "javascript:alert(document.domain)",
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """One page of the module's headless Chromium; fails, not skips, where Chromium is not installed. Closed at
    the module's end (Playwright's sync API holds an asyncio loop while it is open)."""
    try:
        chromium_path()
    except ChromiumMissingError as missing:
        pytest.fail(str(missing), pytrace=False)
    browser: Browser
    with chromium() as browser:
        context = browser.new_context()
        yield context.new_page()
        context.close()


def _links(page: Page, html: str, path: Path) -> list[tuple[str, str, str]]:
    show(page, html, path)
    found = page.evaluate(_LINKS)
    return [(str(scheme), str(host), str(href)) for scheme, host, href in found]


def _hostile_alerts() -> list[Alert]:
    """Advisories whose link is each of :data:`HOSTILE_LINKS`, and a KEV entry whose notes cite them too."""
    alerts = []
    for number, link in enumerate(HOSTILE_LINKS):
        finding = Finding(
            establishment=render_examples.ESTABLISHMENT.id,
            indicator=Indicator(IndicatorType.NAME, "Centre hospitalier de la Garonne"),
            asset="Centre hospitalier de la Garonne",
            reason=MatchReason.NAME_MENTION,
            feed="leak-victims" if number == 0 else "rss",
            kind=FeedKind.LEAK if number == 0 else FeedKind.ADVISORY,
            entry=f"hostile-{number}",
            title=f"Avis {number} : voir {link}",
            link=link,
            published=render_examples.NOW,
            facts=Facts(group="lockbit3") if number == 0 else Facts(summary=f"Source : {link}"),
        )
        alerts.append(_alert(finding))
    kev = Finding(
        establishment=render_examples.ESTABLISHMENT.id,
        indicator=Indicator(IndicatorType.CVE, "CVE-2023-4966"),
        asset="Citrix NetScaler ADC 13.1-49.13",
        reason=MatchReason.KEV_PRODUCT,
        feed="cisa-kev",
        kind=FeedKind.VULNERABILITY,
        entry="CVE-2023-4966",
        title="Citrix NetScaler ADC and Gateway Buffer Overflow",
        link="https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        published=render_examples.NOW,
        facts=Facts(notes=" ; ".join(link for link in HOSTILE_LINKS if link.startswith("http"))),
    )
    return [*alerts, _alert(kev)]


def _alert(finding: Finding) -> Alert:
    return Alert(
        finding=finding,
        severity=Severity.IMMINENT,
        rule=render_examples.alerts()["leak"][0].rule,
        subscription="imminent-tous",
        immediate=True,
        first_seen=render_examples.NOW,
        last_seen=render_examples.NOW,
        tlp=render_examples.alerts()["leak"][0].tlp,
    )


def test_every_link_of_every_example_email_goes_to_an_allowed_domain(page: Page, tmp_path: Path) -> None:
    allowed = allowed_domains(render_examples.settings().render)
    hosts: set[str] = set()
    for name in NAMES:
        links = _links(page, examples()[name].html, tmp_path / f"{name}.html")
        for scheme, host, href in links:
            assert scheme == "https:" or scheme == "http:", f"{name}: {href}"
            assert allowed_host(host, allowed), f"{name}: a link to {host} ({href})"
            hosts.add(host)
    # The check saw real links: the known sources' pages the examples cite.
    assert {"nvd.nist.gov", "www.cert.ssi.gouv.fr"} <= hosts


def test_no_link_a_feed_gives_leaves_the_allowed_domains(page: Page, tmp_path: Path) -> None:
    settings = render_examples.settings().render
    allowed = allowed_domains(settings)
    msg = render_email(
        make_environment(None),
        render_examples.ESTABLISHMENT,
        _hostile_alerts(),
        ["rssi@ch-garonne.example"],
        settings=settings,
        now=render_examples.NOW,
        message_id="<alertd.browser.hostile@cert-sante.example>",
    )
    part = msg.get_body(("html",))
    assert part is not None
    html = str(part.get_content())
    links = _links(page, html, tmp_path / "hostile.html")
    assert [host for _scheme, host, _href in links] == ["nvd.nist.gov"]  # the KEV entry's own NVD page, once
    for _scheme, host, href in links:
        assert allowed_host(host, allowed), href
    # What the feed gave is there, defanged; the lookalike is flagged.
    assert "hxxps://\u0441ert-sante[.]example/fuites/ch-garonne" in html.replace("<wbr>", "")
    assert "Nom de domaine trompeur" in html
