"""Which links an email may make clickable: the CERT's own pages and the official references of known sources.

A feed chooses its links, and a feed can be written by an adversary (a leak post, an RSS item, a MISP comment).
So a link becomes an ``<a href>`` only when its host is one the CERT trusts: a domain of its own (the declaration
page, the sender's and reply addresses, ``links.allowed_domains`` in ``alertd.yaml``), a source's official site
from :data:`KNOWN_REFERENCES`, or the site of a CSAF provider the operator configured as a feed. Any other link is
shown as defanged text (contract §4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from alertd.domain.feeds import FeedConfig, FeedFormat
from alertd.domain.settings import RenderSettings
from alertd.domain.values import Finding
from alertd.render.defang import Scrubber, defang, scrub
from alertd.render.headers import CONTROL, address_parts

# The official sites of the sources alertd reads, where their advisories and records live. A host matches a
# domain here or any name under it (``www.cert.ssi.gouv.fr`` under ``cert.ssi.gouv.fr``): each is run by the
# source itself.
KNOWN_REFERENCES = frozenset(
    {
        "nvd.nist.gov",  # NIST's NVD: a CVE's detail page (the NVD feed, the references of every CVE)
        "cisa.gov",  # CISA: the KEV catalogue, ICS and ICS medical advisories (their CSAF documents)
        "cert.ssi.gouv.fr",  # CERT-FR (ANSSI): alerts, advisories, threat reports
        "cve.org",  # the CVE Program's record of a CVE
        "cve.mitre.org",  # its former site, still linked by older advisories
        "cwe.mitre.org",  # a weakness (CWE) a KEV entry or a CSAF document names
        "first.org",  # FIRST: EPSS scores, CVSS and TLP specifications
        "abuse.ch",  # abuse.ch: Feodo Tracker, URLhaus, SSLBL, ThreatFox pages
        "cert-bund.de",  # CERT-Bund (BSI): its CSAF advisories
        "bsi.bund.de",  # the BSI's own advisory pages, linked from its CSAF documents
    }
)
# A link made clickable: http(s), a host of ASCII labels, no user part, no port. Anything else (a "\" or an "@"
# that a browser and Python read differently, a Unicode host, an IP address) is never a link target.
_PLAIN_LINK = re.compile(
    r"^https?://(?P<host>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)\.?"
    r"(?:[/?#]|$)",
    re.IGNORECASE | re.ASCII,
)
_NVD = "https://nvd.nist.gov/vuln/detail/{cve}"
_WEB_LINK = re.compile(r"https?://[^\s;,<>\"'|]+", re.IGNORECASE)
_MAX_REFERENCES = 5
_URL_SAFE = ":/?#[]@!$&()*+,;=%-._~"  # RFC 3986 reserved and unreserved characters, and "%"
# The feed formats whose URL is a provider's own site (a CSAF provider serves its index and documents there).
_PROVIDER_FORMATS = frozenset({FeedFormat.CSAF})


def _host_of_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def _host_of_address(address: str | None) -> str | None:
    found = address_parts(address or "")[1].rpartition("@")[2]
    return found.rstrip(".").lower() or None


def own_domains(settings: RenderSettings) -> frozenset[str]:
    """The CERT's own domains: those of its declaration page, of its sender and reply addresses, and those the
    operator lists in ``links.allowed_domains``."""
    found = {
        _host_of_url(settings.bulletin.incident_url),
        _host_of_address(settings.sender_from),
        _host_of_address(settings.reply_to),
    }
    return frozenset(d for d in found if d) | settings.link_domains


def source_domains(feeds: Iterable[FeedConfig]) -> frozenset[str]:
    """The sites of the CSAF providers among the configured feeds (the host of each feed's URL)."""
    found = {_host_of_url(feed.url) for feed in feeds if feed.format in _PROVIDER_FORMATS}
    return frozenset(d for d in found if d)


def allowed_domains(settings: RenderSettings) -> frozenset[str]:
    """Every domain an email may link to: the CERT's own and the known sources' (a host under one matches)."""
    return own_domains(settings) | KNOWN_REFERENCES


def allowed_host(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` is one of ``allowed`` or a name under one (``www.cisa.gov`` under ``cisa.gov``)."""
    host = host.rstrip(".").lower()
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


def link_target(url: str, allowed: Iterable[str]) -> str | None:
    """The host of ``url`` when the email may make it clickable (a plain http(s) link to an allowed domain), else
    None."""
    found = _PLAIN_LINK.match(url)
    if found is None:
        return None
    host = found.group("host").lower()
    return host if allowed_host(host, allowed) else None


def shown_link(raw: str, patterns: Scrubber, allowed: frozenset[str]) -> tuple[str, str | None]:
    """A feed's link as shown and its target if it may be clickable, else None: a plain web page on an ``allowed``
    domain that carries no reported indicator (``patterns``) is shown as it is and clickable; any other link is
    defanged text."""
    raw = CONTROL.sub("", "".join(raw.split()))[:2000]  # no whitespace or line break survives in a URL
    text = scrub(raw, patterns)
    if text != raw or link_target(raw, allowed) is None:
        return defang(text), None
    # Quotes and angle brackets are percent-encoded: the CSS inliner writes attributes back escaping only "&"
    # and '"'.
    return raw, quote(raw, safe=_URL_SAFE)


def references(f: Finding, cve: str | None) -> list[str]:
    """Where to read more about a vulnerability: NVD's page for its CVE, then the vendor pages KEV's notes give."""
    found = [_NVD.format(cve=cve)] if cve else []
    for url in _WEB_LINK.findall(f.facts.notes or ""):
        found.append(url.rstrip(".)]"))
    unique = [u for u in dict.fromkeys(found) if u != f.link]
    return unique[:_MAX_REFERENCES]
