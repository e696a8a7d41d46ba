"""The render stage: alerts for one establishment → one email, in its language (contract §4).

The email is ``multipart/mixed``: a ``multipart/alternative`` (a plain text complete on its own, and HTML whose
``<style>`` rules are inlined by css-inline), then the findings as ``findings.csv`` and ``findings.json``. Each
alert's table is laid out for its kind (compromise, exposure, vulnerability, leak, advisory).

Pure: the only I/O is the Jinja2 loader reading templates (the CSS inliner never fetches a stylesheet), and the
time is passed in. Everything that came from a feed is untrusted: indicators are shown defanged, headers are
stripped of control characters, the HTML part relies on autoescape (no feed string is ever marked safe), and a
CSV cell that a spreadsheet would run as a formula is neutralised.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import ipaddress
import json
import re
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Policy
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2

from alertd.domain.codes import NETWORK_REASONS, SOFTWARE_REASONS, Evidence, MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Establishment
from alertd.domain.settings import TLP_LEVELS, Settings
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity


def _bundled_templates() -> Path:
    """The templates shipped with alertd: inside the installed package, or the checkout's ``templates/``."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


BUNDLED_TEMPLATES = _bundled_templates()
TLP_ORDER = TLP_LEVELS  # the markings config accepts, least restrictive first
REASONS = tuple(MatchReason)

# ----------------------------------------------------------------------------------------------------
# Defanging

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_FANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "ftps": "fxps"}
# A URL written without its scheme: a host name or IPv4 address followed by a port, path, query or fragment.
_SCHEMELESS_URL = re.compile(r"^(?:[\w-]+\.)+[\w-]+(?::\d+)?[/?#]")
_DOT = re.compile(r"(?<!\[)\.(?!\])")  # lookarounds keep defang idempotent: "[.]" stays "[.]"
_AT = re.compile(r"(?<!\[)@(?!\])")
_COLON = re.compile(r"(?<!\[):(?!\])")
_BRACKETED_V6 = re.compile(r"\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A host name: dot-separated labels, the last one starting with a letter ("13.1.49" is a version, not a host).
_DOMAIN = re.compile(r"^(?:[\w-]+\.)+[^\W\d_][\w-]*\.?$")
_HOST_PORT = re.compile(r"^(?P<host>[^\s:/\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


def _dots(text: str) -> str:
    return _DOT.sub("[.]", text)


def _defang_ipv6(text: str) -> str:
    return _dots(_COLON.sub("[:]", text))


def _defang_email(text: str) -> str:
    return _dots(_AT.sub("[@]", text))


def _defang_url(text: str) -> str:
    found = _SCHEME.match(text)
    prefix, rest = "", text
    if found:
        scheme = found.group(1)
        prefix = _FANGED_SCHEMES.get(scheme.lower(), scheme) + "://"
        rest = text[found.end() :]
    # An IPv6 literal host ("[2001:db8::1]") loses its colons before the dots are bracketed.
    rest = _BRACKETED_V6.sub(lambda m: "[" + _COLON.sub("[:]", m.group(1)) + "]", rest, count=1)
    return prefix + _dots(_AT.sub("[@]", rest))


def _defang_address(text: str) -> str:
    return _defang_ipv6(text) if ":" in text else _dots(text)


def defang(value: str) -> str:
    """Make a URL, host, domain, IP or email address unclickable (``hxxp``, ``[.]``, ``[@]``, ``[:]``).

    Anything else — CVE ids, hashes, product and organisation names — is returned unchanged.
    """
    text = value.strip()
    if _SCHEME.match(text) or _SCHEMELESS_URL.match(text):
        return _defang_url(value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    else:
        return _defang_address(value)
    if _EMAIL.match(text):
        return _defang_email(value)
    if _DOMAIN.match(text):
        return _dots(value)
    found = _HOST_PORT.match(text)
    if found:
        host = found.group("host")
        inner = host.strip("[]")
        if host.startswith("["):
            return "[" + _defang_ipv6(inner) + "]:" + found.group("port")
        if defang(host) != host:
            return defang(host) + ":" + found.group("port")
    return value


def defang_indicator(ind: Indicator) -> str:
    """An indicator defanged by its type; CVEs, hashes, products, names and ASNs stay as they are."""
    match ind.type:
        case IndicatorType.URL:
            return _defang_url(ind.value)
        case IndicatorType.DOMAIN:
            return _dots(ind.value)
        case IndicatorType.IPV4:
            return _dots(ind.value)
        case IndicatorType.IPV6:
            return _defang_ipv6(ind.value)
        case IndicatorType.CIDR:
            return _defang_address(ind.value)
        case IndicatorType.EMAIL:
            return _defang_email(ind.value)
        case _:
            return ind.value


# ----------------------------------------------------------------------------------------------------
# Headers

_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029"
    # bidirectional embeddings, overrides and isolates: they make a subject read differently from what it says
    "\u202a-\u202e\u2066-\u2069]"
)


def clean_header(text: str, limit: int = 200) -> str:
    """One line fit for a header: control characters removed, whitespace collapsed, at most ``limit`` chars.

    Removes C0, DEL, C1 (including U+0085), the line and paragraph separators U+2028/U+2029 and bidirectional
    overrides; a longer text is cut and ends with "…".
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    line = " ".join(_CONTROL.sub(" ", text).split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


# ----------------------------------------------------------------------------------------------------
# Templates


def make_environment(templates_dir: Path | None) -> jinja2.Environment:
    """A Jinja2 environment over the operator's templates folder (if any), then the bundled templates.

    A file in ``templates_dir`` overrides the bundled file of the same name (``fr/subject.txt.j2``...). HTML
    templates (``*.html.j2``) are autoescaped, text templates are not; an undefined variable is an error.
    """
    search = [str(templates_dir)] if templates_dir is not None else []
    search.append(str(BUNDLED_TEMPLATES))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["defang"] = defang
    return env


# ----------------------------------------------------------------------------------------------------
# Words, in each bundled language

_SEVERITY_LABELS: Mapping[str, Mapping[Severity, str]] = {
    "fr": {
        Severity.IMMINENT: "IMMINENT",
        Severity.CRITICAL: "CRITIQUE",
        Severity.HIGH: "ÉLEVÉ",
        Severity.INFO: "INFO",
    },
    "en": {s: s.name for s in Severity},
}
_SEVERITY_COLORS = {
    Severity.IMMINENT: "#b00020",
    Severity.CRITICAL: "#c2410c",
    Severity.HIGH: "#a16207",
    Severity.INFO: "#4b5563",
}
_KIND_LABELS: Mapping[str, Mapping[FeedKind, str]] = {
    "fr": {
        FeedKind.COMPROMISE: "compromission",
        FeedKind.EXPOSURE: "exposition",
        FeedKind.VULNERABILITY: "vulnérabilité",
        FeedKind.ADVISORY: "avis de sécurité",
        FeedKind.LEAK: "fuite de données",
    },
    "en": {
        FeedKind.COMPROMISE: "compromise",
        FeedKind.EXPOSURE: "exposure",
        FeedKind.VULNERABILITY: "vulnerability",
        FeedKind.ADVISORY: "advisory",
        FeedKind.LEAK: "data leak",
    },
}
_TYPE_LABELS: Mapping[str, Mapping[IndicatorType, str]] = {
    "fr": {
        IndicatorType.IPV4: "adresse IPv4",
        IndicatorType.IPV6: "adresse IPv6",
        IndicatorType.CIDR: "réseau",
        IndicatorType.ASN: "système autonome",
        IndicatorType.DOMAIN: "domaine",
        IndicatorType.URL: "URL",
        IndicatorType.EMAIL: "adresse e-mail",
        IndicatorType.CVE: "identifiant CVE",
        IndicatorType.HASH: "empreinte de fichier",
        IndicatorType.PRODUCT: "produit",
        IndicatorType.NAME: "nom d'organisation",
    },
    "en": {
        IndicatorType.IPV4: "IPv4 address",
        IndicatorType.IPV6: "IPv6 address",
        IndicatorType.CIDR: "network",
        IndicatorType.ASN: "autonomous system",
        IndicatorType.DOMAIN: "domain",
        IndicatorType.URL: "URL",
        IndicatorType.EMAIL: "email address",
        IndicatorType.CVE: "CVE id",
        IndicatorType.HASH: "file hash",
        IndicatorType.PRODUCT: "product",
        IndicatorType.NAME: "organisation name",
    },
}
_ADDRESS_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR})

# Why an indicator matched, by the matcher's reason code; {asset} is the registry item hit.
_REASONS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "address-in-network": "L'adresse signalée se trouve dans votre réseau {asset}.",
        "network-overlap": "Le réseau signalé recouvre votre réseau {asset}.",
        "domain": "Le domaine ou l'hôte signalé est votre domaine {asset} ou l'un de ses sous-domaines.",
        "asn": "Le système autonome signalé est le vôtre ({asset}).",
        "kev-product": "Une vulnérabilité activement exploitée (catalogue CISA KEV) affecte {asset}, "
        "présent dans votre inventaire logiciel.",
        "cve-product": "La vulnérabilité affecte {asset}, présent dans votre inventaire logiciel.",
        "product-mention": "L'avis cite {asset}, présent dans votre inventaire logiciel.",
        "name-mention": "Le nom ou l'alias de votre établissement « {asset} » apparaît dans {where}.",
    },
    "en": {
        "address-in-network": "The reported address lies in your network {asset}.",
        "network-overlap": "The reported network overlaps your network {asset}.",
        "domain": "The reported domain or host is, or is under, your domain {asset}.",
        "asn": "The reported autonomous system is yours ({asset}).",
        "kev-product": "A known-exploited vulnerability (CISA KEV catalogue) affects {asset}, "
        "listed in your software inventory.",
        "cve-product": "The vulnerability affects {asset}, listed in your software inventory.",
        "product-mention": "The advisory names {asset}, listed in your software inventory.",
        "name-mention": "Your establishment's name or alias “{asset}” appears in {where}.",
    },
}
_REASON_FALLBACK = {
    "fr": "Correspondance avec votre actif {asset} (règle « {reason} »).",
    "en": "Matched your asset {asset} (rule “{reason}”).",
}
_WHERE: Mapping[str, Mapping[FeedKind, str]] = {
    "fr": {
        FeedKind.LEAK: "une publication d'un site de fuite de données",
        FeedKind.ADVISORY: "l'avis de sécurité",
        FeedKind.VULNERABILITY: "le bulletin de vulnérabilité",
        FeedKind.COMPROMISE: "une liste d'indicateurs de compromission",
        FeedKind.EXPOSURE: "un rapport d'exposition",
    },
    "en": {
        FeedKind.LEAK: "a post on a data-leak site",
        FeedKind.ADVISORY: "the advisory",
        FeedKind.VULNERABILITY: "the vulnerability bulletin",
        FeedKind.COMPROMISE: "a list of indicators of compromise",
        FeedKind.EXPOSURE: "an exposure report",
    },
}

# The one-line summary of an alert in the subject; {i} is the defanged indicator.
_SUMMARIES: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "compromise:address": "adresse compromise {i}",
        "compromise:domain": "domaine compromis {i}",
        "compromise:url": "URL malveillante {i}",
        "compromise:email": "adresse e-mail compromise {i}",
        "compromise": "compromission {i}",
        "exposure": "service exposé {i}",
        "vulnerability:kev": "vulnérabilité exploitée {i}",
        "vulnerability": "vulnérabilité {i}",
        "advisory": "avis de sécurité concernant {i}",
        "leak": "cité sur un site de fuite ({i})",
    },
    "en": {
        "compromise:address": "compromised address {i}",
        "compromise:domain": "compromised domain {i}",
        "compromise:url": "malicious URL {i}",
        "compromise:email": "compromised email address {i}",
        "compromise": "compromise {i}",
        "exposure": "exposed service {i}",
        "vulnerability:kev": "exploited vulnerability {i}",
        "vulnerability": "vulnerability {i}",
        "advisory": "advisory about {i}",
        "leak": "named on a leak site ({i})",
    },
}

# What to do, by feed kind; {i} is the defanged indicator, {asset} the item hit, {contact} the CERT's address.
_ACTIONS: Mapping[str, Mapping[FeedKind, tuple[str, ...]]] = {
    "fr": {
        FeedKind.COMPROMISE: (
            "Identifiez l'équipement ou le service correspondant à {i}, isolez-le du réseau si possible "
            "et recherchez des traces de compromission.",
            "Recherchez dans vos journaux (pare-feu, proxy, DNS, messagerie) les connexions depuis et "
            "vers {i}, au moins depuis la date de première observation.",
            "Contactez-nous pour être accompagné : {contact}.",
        ),
        FeedKind.VULNERABILITY: (
            "Appliquez le correctif de l'éditeur sur {asset} ou, à défaut, ses mesures de contournement.",
            "Vérifiez que l'équipement n'a pas déjà été compromis avant ou pendant la correction.",
        ),
        FeedKind.LEAK: (
            "Vérifiez si des données de votre établissement ont été dérobées (flux sortants inhabituels, "
            "comptes, sauvegardes, serveurs de fichiers).",
            "Déclenchez votre procédure de réponse à incident et prévenez votre direction et votre DPO ; "
            "si des données personnelles sont concernées, la CNIL doit être notifiée sous 72 heures.",
            "Contactez-nous sans attendre : {contact}.",
        ),
        FeedKind.ADVISORY: (
            "Lisez l'avis de sécurité et vérifiez si vos systèmes sont exposés.",
            "Appliquez les correctifs ou les mesures de contournement recommandés.",
        ),
        FeedKind.EXPOSURE: (
            "Fermez l'accès depuis Internet au service exposé{port} ou mettez-le à jour sans attendre.",
            "Vérifiez que le service n'a pas été compromis (comptes, journaux, fichiers récents).",
        ),
    },
    "en": {
        FeedKind.COMPROMISE: (
            "Identify the device or service behind {i}, isolate it from the network if you can, "
            "and look for signs of compromise.",
            "Search your logs (firewall, proxy, DNS, mail) for connections to and from {i}, "
            "going back at least to the first-seen date.",
            "Contact us for help: {contact}.",
        ),
        FeedKind.VULNERABILITY: (
            "Apply the vendor's patch to {asset} or, failing that, the vendor's mitigations.",
            "Check that the device was not already compromised before or while it was patched.",
        ),
        FeedKind.LEAK: (
            "Check whether your establishment's data was stolen (unusual outbound traffic, accounts, "
            "backups, file servers).",
            "Start your incident response procedure and inform your management and your DPO; if personal "
            "data is involved, the supervisory authority must be notified within 72 hours (GDPR art. 33).",
            "Contact us without delay: {contact}.",
        ),
        FeedKind.ADVISORY: (
            "Read the advisory and check whether your systems are exposed.",
            "Apply the recommended patches or mitigations.",
        ),
        FeedKind.EXPOSURE: (
            "Close Internet access to the exposed service{port} or update it without delay.",
            "Check that the service was not compromised (accounts, logs, recent files).",
        ),
    },
}
_KEV_ACTIONS = {
    "fr": (
        "Cette vulnérabilité est activement exploitée : traitez-la en priorité.",
        "Date limite de correction fixée par la CISA : {due_date}.",
        "Action requise (CISA) : {required_action}",
    ),
    "en": (
        "This vulnerability is being exploited: treat it first.",
        "Remediation due date set by CISA: {due_date}.",
        "Required action (CISA): {required_action}",
    ),
}
_PORT = {"fr": " (port {port})", "en": " (port {port})"}


# Details a feed gives (``Finding.attrs``) worth showing, in this order, with their labels. Keys absent here
# (KEV ``notes``, ``vendor``, ``product``...) are either shown otherwise or not meant for the reader.
_ATTRS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "fr": (
        ("malware", "Maliciel"),
        ("port", "Port"),
        ("first_seen", "Signalé par la source depuis"),
        ("group", "Groupe"),
        ("website", "Site revendiqué"),
        ("cves", "CVE citées"),
        ("cvss", "Score CVSS"),
        ("ransomware", "Utilisée par des rançongiciels"),
        ("date_added", "Ajoutée au catalogue KEV le"),
        ("cwes", "Faiblesses (CWE)"),
        ("cwe", "Faiblesse (CWE)"),
        ("due_date", "Date limite (CISA KEV)"),
        ("required_action", "Action requise"),
    ),
    "en": (
        ("malware", "Malware"),
        ("port", "Port"),
        ("first_seen", "Reported by the source since"),
        ("group", "Group"),
        ("website", "Website claimed"),
        ("cves", "CVEs named"),
        ("cvss", "CVSS score"),
        ("ransomware", "Used in ransomware campaigns"),
        ("date_added", "Added to the KEV catalogue on"),
        ("cwes", "Weaknesses (CWE)"),
        ("cwe", "Weakness (CWE)"),
        ("due_date", "Due date (CISA KEV)"),
        ("required_action", "Required action"),
    ),
}
# KEV's knownRansomwareCampaignUse, in words.
_RANSOMWARE: Mapping[str, Mapping[str, str]] = {
    "fr": {"known": "oui", "unknown": "pas à notre connaissance"},
    "en": {"known": "yes", "unknown": "not known"},
}

# Row labels of an alert's table; "indicator", "title" and "published" depend on the finding's kind.
_LABELS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "why": "Pourquoi vous",
        "feed": "Flux",
        "link": "Lien",
        "reference": "Référence",
        "first_seen": "Première observation",
        "last_seen": "Dernière observation",
        "rule": "Règle de gravité",
        "product": "Produit concerné",
        "version": "Version (inventaire)",
        "version_unknown": "inconnue : vérifiez-la dans votre inventaire",
        "indicator": "Indicateur",
        "indicator:host": "Hôte signalé",
        "indicator:vulnerability": "Vulnérabilité",
        "indicator:leak": "Nom publié",
        "indicator:advisory": "Élément cité",
        "title": "Source",
        "title:vulnerability": "Intitulé",
        "title:leak": "Publication",
        "title:advisory": "Avis",
        "published": "Publié le",
        "published:leak": "Date de la publication",
    },
    "en": {
        "why": "Why you",
        "feed": "Feed",
        "link": "Link",
        "reference": "Reference",
        "first_seen": "First seen",
        "last_seen": "Last seen",
        "rule": "Severity rule",
        "product": "Product",
        "version": "Version (inventory)",
        "version_unknown": "unknown: check it in your inventory",
        "indicator": "Indicator",
        "indicator:host": "Reported host",
        "indicator:vulnerability": "Vulnerability",
        "indicator:leak": "Name posted",
        "indicator:advisory": "Matched item",
        "title": "Source",
        "title:vulnerability": "Title",
        "title:leak": "Post",
        "title:advisory": "Advisory",
        "published": "Published",
        "published:leak": "Posted on",
    },
}
# Which rows an alert's table shows, in order, by the finding's kind: "attr:KEY" is a detail from the feed,
# "*" the details not placed elsewhere. What each kind's reader needs first comes first: the host and why for a
# compromise, the product and version for a vulnerability, the group and date for a leak, the advisory itself.
_LAYOUT: Mapping[FeedKind, tuple[str, ...]] = {
    FeedKind.COMPROMISE: (
        "indicator", "why", "attr:malware", "attr:port", "title", "feed", "link", "published", "attr:first_seen",
        "first_seen", "last_seen", "*", "rule",
    ),
    FeedKind.EXPOSURE: (
        "indicator", "why", "attr:port", "title", "feed", "link", "published", "attr:first_seen",
        "first_seen", "last_seen", "*", "rule",
    ),
    FeedKind.VULNERABILITY: (
        "indicator", "title", "product", "version", "why", "attr:ransomware", "attr:date_added", "attr:cvss",
        "*", "feed", "link", "references", "published", "first_seen", "last_seen", "rule",
    ),
    FeedKind.LEAK: (
        "indicator", "attr:group", "published", "title", "attr:website", "why", "feed", "link", "*",
        "first_seen", "last_seen", "rule",
    ),
    FeedKind.ADVISORY: (
        "title", "link", "published", "indicator", "product", "version", "attr:cves", "attr:cvss", "why", "feed",
        "*", "references", "first_seen", "last_seen", "rule",
    ),
}  # fmt: skip
# A vulnerability's KEV due date and required action are told in "what to do", not twice.
_TOLD_IN_ACTIONS: Mapping[FeedKind, frozenset[str]] = {
    FeedKind.VULNERABILITY: frozenset({"due_date", "required_action"}),
}
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
_NVD = "https://nvd.nist.gov/vuln/detail/{cve}"
_WEB_LINK = re.compile(r"https?://[^\s;,<>\"'|]+", re.IGNORECASE)
_MAX_REFERENCES = 5
_URL_SAFE = ":/?#[]@!$&()*+,;=%-._~"  # RFC 3986 reserved and unreserved characters, and "%"

_TLP_TEXT: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "clear": "Les destinataires peuvent diffuser cette information sans limite.",
        "green": "Diffusion limitée : les destinataires peuvent partager cette information au sein de leur "
        "communauté, mais pas publiquement.",
        "amber": "Diffusion limitée : les destinataires peuvent partager cette information avec les "
        "membres de leur organisation et ses clients, selon le besoin d'en connaître.",
        "amber+strict": "Diffusion limitée : les destinataires peuvent partager cette information avec les "
        "membres de leur organisation seulement, selon le besoin d'en connaître.",
        "red": "Réservé aux seuls destinataires : aucune diffusion supplémentaire.",
    },
    "en": {
        "clear": "Recipients may spread this to the world; there is no limit on disclosure.",
        "green": "Limited disclosure: recipients may share this within their community, but not publicly.",
        "amber": "Limited disclosure: recipients may share this with members of their organisation and its "
        "clients on a need-to-know basis.",
        "amber+strict": "Limited disclosure: recipients may share this with members of their organisation "
        "only, on a need-to-know basis.",
        "red": "For the eyes and ears of individual recipients only; no further disclosure.",
    },
}
_TLP_COLORS = {
    "clear": ("#ffffff", "#000000"),
    "green": ("#33ff00", "#000000"),
    "amber": ("#ffc000", "#000000"),
    "amber+strict": ("#ffc000", "#000000"),
    "red": ("#ff2b2b", "#000000"),
}
_DATE_FORMAT = "%Y-%m-%d %H:%M %Z"
_TITLE_LIMIT = 300
_ATTR_LIMIT = 500


# ----------------------------------------------------------------------------------------------------
# Context


def strictest_tlp(markings: Sequence[str]) -> str:
    """The strictest of some TLP markings; an unknown marking counts as ``red`` (fail closed)."""
    ranks = [_tlp_rank(m) for m in markings]
    return TLP_ORDER[max(ranks, default=TLP_ORDER.index("amber"))]


def _tlp_rank(marking: str) -> int:
    name = marking.strip().lower().removeprefix("tlp:")
    name = {"white": "clear", "amber-strict": "amber+strict"}.get(name, name)
    return TLP_ORDER.index(name) if name in TLP_ORDER else len(TLP_ORDER) - 1


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Most severe first, then by indicator; the rest of the key only makes the order total."""
    return sorted(
        alerts,
        key=lambda a: (
            -a.severity,
            a.finding.indicator,
            a.finding.feed,
            a.finding.reason,
            a.finding.asset,
            a.finding.entry,
        ),
    )


def resolved_context(est: Establishment, resolved: Sequence[Finding]) -> list[dict[str, str]]:
    """The "no longer listed" section: each finding defanged, with its asset and feed."""
    foreign = sorted({f.establishment for f in resolved if f.establishment != est.id})
    if foreign:
        raise ValueError(f"findings of establishment(s) {', '.join(foreign)} given to render {est.id!r}'s email")
    return [
        {
            "indicator": defang_indicator(f.indicator),
            "asset": defang(f.asset),
            "feed": f.feed,
            "title": clean_header(f.title, 160),
        }
        for f in sorted(resolved, key=lambda f: (f.feed, f.indicator.value))
    ]


def _check(est: Establishment, alerts: Sequence[Alert]) -> None:
    if not alerts:
        raise ValueError(f"no alert to render for establishment {est.id!r}")
    foreign = sorted({a.finding.establishment for a in alerts if a.finding.establishment != est.id})
    if foreign:
        # An email never carries another establishment's data (contract §4).
        raise ValueError(f"alerts for establishment(s) {', '.join(foreign)} given to render {est.id!r}'s email")


def _lang(est: Establishment) -> str:
    return est.language if est.language in _REASONS else "en"


def _when(moment: datetime | None, tz: ZoneInfo) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime(_DATE_FORMAT)


def _scrubber(alerts: Sequence[Alert]) -> list[tuple[re.Pattern[str], str]]:
    """Patterns replacing every raw indicator of the email by its defanged form inside feed text."""
    pairs = {}
    for alert in alerts:
        ind = alert.finding.indicator
        shown = defang_indicator(ind)
        if ind.value and shown != ind.value:
            pairs[ind.value] = shown
        # The host of a URL and the domain of an address are as clickable as the whole value.
        host = None
        if ind.type is IndicatorType.URL:
            with contextlib.suppress(ValueError):
                host = urlsplit(ind.value if "://" in ind.value else "//" + ind.value).hostname
        elif ind.type is IndicatorType.EMAIL:
            host = ind.value.rpartition("@")[2]
        if host and defang(host) != host:
            pairs.setdefault(host, defang(host))
    # Longest first, so a URL is replaced whole before the host inside it is.
    return [(re.compile(re.escape(raw), re.IGNORECASE), pairs[raw]) for raw in sorted(pairs, key=lambda r: -len(r))]


def _scrub(text: str, scrubber: Sequence[tuple[re.Pattern[str], str]]) -> str:
    for pattern, shown in scrubber:
        text = pattern.sub(shown.replace("\\", "\\\\"), text)
    return text


def _sender(settings: Settings) -> tuple[str, str]:
    name, address = parseaddr(settings.sender_from)
    organisation = settings.organisation or name or address
    return clean_header(organisation), address


def _summary(lang: str, alert: Alert, shown: str) -> str:
    f = alert.finding
    table = _SUMMARIES[lang]
    key = f.kind.value
    if f.kind is FeedKind.COMPROMISE:
        if f.indicator.type in _ADDRESS_TYPES:
            key = "compromise:address"
        elif f.indicator.type in (IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.EMAIL):
            key = f"compromise:{f.indicator.type.value}"
    elif f.kind is FeedKind.VULNERABILITY and f.reason is MatchReason.KEV_PRODUCT:
        key = "vulnerability:kev"
    return table[key].format(i=shown)


def _actions(lang: str, alert: Alert, shown: str, asset: str, attrs: Mapping[str, str], contact: str) -> list[str]:
    f = alert.finding
    port = _PORT[lang].format(port=attrs["port"]) if attrs.get("port") else ""
    steps = [s.format(i=shown, asset=asset, contact=contact, port=port) for s in _ACTIONS[lang][f.kind]]
    if f.kind is FeedKind.VULNERABILITY:
        urgent, due, required = _KEV_ACTIONS[lang]
        if f.reason is MatchReason.KEV_PRODUCT or attrs.get("due_date"):
            steps.insert(0, urgent)
        if attrs.get("due_date"):
            steps.append(due.format(due_date=attrs["due_date"]))
        if attrs.get("required_action"):
            steps.append(required.format(required_action=attrs["required_action"]))
    return steps


def _link(raw: str, scrubber: Sequence[tuple[re.Pattern[str], str]]) -> tuple[str, str | None]:
    """A link as shown (reported indicators defanged in it) and its target if it may be clickable, else None."""
    raw = _CONTROL.sub("", "".join(raw.split()))[:2000]  # no whitespace or line break survives in a URL
    text = _scrub(raw, scrubber)
    # Only a plain web page is made clickable, and never one that carries a reported indicator. Quotes and angle
    # brackets are percent-encoded: the CSS inliner writes attributes back escaping only "&" and '"'.
    href = quote(raw, safe=_URL_SAFE) if text == raw and raw.lower().startswith(("https://", "http://")) else None
    return text, href


def _references(f: Finding, cve: str | None) -> list[str]:
    """Where to read more about a vulnerability: NVD's page for its CVE, then the vendor pages KEV's notes give."""
    found = [_NVD.format(cve=cve)] if cve else []
    for url in _WEB_LINK.findall(str(f.attrs.get("notes", ""))):
        found.append(url.rstrip(".)]"))
    unique = [u for u in dict.fromkeys(found) if u != f.link]
    return unique[:_MAX_REFERENCES]


def _product(asset: str, version: str | None) -> str:
    """The software item hit, without the version the matcher appended to it (it gets its own row)."""
    if version and asset.endswith(" " + version):
        return asset[: -len(version) - 1]
    return asset


def _row(key: str, label: str, value: str, *, note: str | None = None, href: str | None = None) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "note": note, "href": href, "code": key == "indicator"}


def _rows(lang: str, f: Finding, item: Mapping[str, Any], attrs: Mapping[str, str]) -> list[dict[str, Any]]:
    """The alert's table: label, value, optional note and link target, in the order its kind calls for."""
    labels = _LABELS[lang]
    kind = f.kind.value
    if f.kind in (FeedKind.COMPROMISE, FeedKind.EXPOSURE):
        hosts = _ADDRESS_TYPES | {IndicatorType.DOMAIN, IndicatorType.URL}
        indicator_label = labels["indicator:host"] if f.indicator.type in hosts else labels["indicator"]
    elif f.kind is FeedKind.VULNERABILITY:
        is_cve = f.indicator.type is IndicatorType.CVE
        indicator_label = labels["indicator:vulnerability"] if is_cve else labels["indicator"]
    else:
        indicator_label = labels[f"indicator:{kind}"]
    told = _TOLD_IN_ACTIONS.get(f.kind, frozenset())
    attr_labels = dict(_ATTRS[lang])
    layout = _LAYOUT[f.kind]
    placed = {key.removeprefix("attr:") for key in layout if key.startswith("attr:")}

    def attr_row(key: str) -> dict[str, Any] | None:
        if key not in attrs or key in told:
            return None
        value = attrs[key]
        if key == "ransomware":
            value = _RANSOMWARE[lang].get(value.lower(), value)
        return _row(f"attr:{key}", attr_labels[key], value)

    rows: list[dict[str, Any] | None] = []
    for key in layout:
        if key.startswith("attr:"):
            rows.append(attr_row(key.removeprefix("attr:")))
        elif key == "*":
            rows.extend(attr_row(k) for k, _label in _ATTRS[lang] if k not in placed)
        elif key == "indicator":
            rows.append(_row(key, indicator_label, item["indicator"], note=item["indicator_type_label"]))
        elif key == "why":
            rows.append(_row(key, labels["why"], item["reason_text"]))
        elif key == "title":
            rows.append(_row(key, labels.get(f"title:{kind}", labels["title"]), item["title"]))
        elif key == "feed":
            rows.append(_row(key, labels["feed"], item["feed"]))
        elif key == "link" and item["link"]:
            rows.append(_row(key, labels["link"], item["link"], href=item["link_href"]))
        elif key == "references":
            rows.extend(_row(key, labels["reference"], text, href=href) for text, href in item["references"])
        elif key == "published" and item["published"] and item["published"] != attrs.get("date_added"):
            rows.append(_row(key, labels.get(f"published:{kind}", labels["published"]), item["published"]))
        elif key == "product" and item["product"]:
            rows.append(_row(key, labels["product"], item["product"]))
        elif key == "version" and item["version"]:
            rows.append(_row(key, labels["version"], item["version"]))
        elif key in ("first_seen", "last_seen", "rule"):
            rows.append(_row(key, labels[key], item[key]))
    return [r for r in rows if r is not None]


_RULES: Mapping[str, Mapping[RuleKind, str]] = {
    "fr": {
        RuleKind.FEED_SEVERITY: "gravité fixée par le flux {feed}",
        RuleKind.COMPROMISE_REPORTED: "compromission signalée",
        RuleKind.LEAK_REPORTED: "établissement cité sur un site de fuite",
        RuleKind.EXPOSED_SERVICE: "service vulnérable exposé",
        RuleKind.KEV: "vulnérabilité exploitée connue (KEV)",
        RuleKind.CVSS: "CVSS {cvss} ≥ 7",
        RuleKind.NO_HIGHER_RULE: "correspondance, sans règle plus grave",
        RuleKind.UNKNOWN: "{text}",
    },
    "en": {
        RuleKind.FEED_SEVERITY: "feed {feed} severity",
        RuleKind.COMPROMISE_REPORTED: "compromise reported",
        RuleKind.LEAK_REPORTED: "leak reported",
        RuleKind.EXPOSED_SERVICE: "exposed vulnerable service",
        RuleKind.KEV: "known exploited vulnerability (KEV)",
        RuleKind.CVSS: "CVSS {cvss} >= 7",
        RuleKind.NO_HIGHER_RULE: "matched, no higher rule applies",
        RuleKind.UNKNOWN: "{text}",
    },
}


def rule_text(lang: str, rule: SeverityRule) -> str:
    """The severity rule in ``lang`` (English for a language without words)."""
    cvss = f"{rule.cvss:.1f}" if rule.cvss is not None else ""
    return _RULES.get(lang, _RULES["en"])[rule.kind].format(feed=rule.feed, cvss=cvss, text=rule.text)


def _alert_context(
    lang: str,
    alert: Alert,
    tz: ZoneInfo,
    contact: str,
    scrubber: Sequence[tuple[re.Pattern[str], str]],
) -> dict[str, Any]:
    f = alert.finding
    shown = defang_indicator(f.indicator)
    asset = clean_header(f.asset, _TITLE_LIMIT)
    if f.reason in NETWORK_REASONS:
        asset = defang(asset)
    template = _REASONS[lang].get(f.reason, _REASON_FALLBACK[lang])
    where = _WHERE[lang][f.kind]
    reason_text = template.format(asset=asset, where=where, reason=clean_header(f.reason, 60))
    known = {key for key, _label in _ATTRS[lang]} | {"version"}
    # A detail that is a host, an address or a URL (a leak post's "website") is as clickable as an indicator.
    attrs = {
        key: _scrub(defang(clean_header(str(value), _ATTR_LIMIT)), scrubber)
        for key, value in f.attrs.items()
        if key in known and str(value).strip()
    }
    link_text, link_href = _link(f.link, scrubber) if f.link else (None, None)
    cve = f.indicator.value.upper() if f.indicator.type is IndicatorType.CVE else None
    if cve is not None and not _CVE_ID.match(cve):
        cve = None
    version = attrs.get("version")
    product = _product(asset, version) if f.kind in (FeedKind.VULNERABILITY, FeedKind.ADVISORY) else None
    if product is not None and f.reason not in SOFTWARE_REASONS:
        product = None  # the asset is a network or a name, not a software item
    if version is not None and Evidence.of(version) is Evidence.VERSION_UNKNOWN:
        version = _LABELS[lang]["version_unknown"]
    if product is None:
        version = None
    told = _TOLD_IN_ACTIONS.get(f.kind, frozenset())
    item: dict[str, Any] = {
        "severity": alert.severity.label,
        "severity_label": _SEVERITY_LABELS[lang][alert.severity],
        "severity_color": _SEVERITY_COLORS[alert.severity],
        "kind": f.kind.value,
        "kind_label": _KIND_LABELS[lang][f.kind],
        "kev": f.kind is FeedKind.VULNERABILITY and (f.reason is MatchReason.KEV_PRODUCT or "due_date" in attrs),
        "indicator": shown,
        "indicator_type": f.indicator.type.value,
        "indicator_type_label": _TYPE_LABELS[lang][f.indicator.type],
        "asset": asset,
        "product": product,
        "version": version,
        "cve": cve,
        "reason": f.reason,
        "reason_text": reason_text,
        "feed": f.feed,
        "entry": _scrub(clean_header(f.entry, _TITLE_LIMIT), scrubber),
        "title": _scrub(clean_header(f.title, _TITLE_LIMIT), scrubber),
        "link": link_text,
        "link_href": link_href,
        "references": [_link(url, scrubber) for url in _references(f, cve)] if product or cve else [],
        "published": _day(f.published) or _when(f.published, tz),
        "first_seen": _when(alert.first_seen, tz),
        "last_seen": _when(alert.last_seen, tz),
        "first_seen_iso": _iso(alert.first_seen),
        "last_seen_iso": _iso(alert.last_seen),
        "rule": rule_text(lang, alert.rule),
        "details": {key: value for key, value in attrs.items() if key != "version"},
        "attrs": [(label, attrs[key]) for key, label in _ATTRS[lang] if key in attrs and key not in told],
        "actions": _actions(lang, alert, shown, asset, attrs, contact),
        "summary": _summary(lang, alert, shown),
        "follow_up": alert.follow_up,
        "tlp": strictest_tlp([alert.tlp]),
        "key": f.key,
    }
    item["rows"] = _rows(lang, f, item, attrs)
    return item


def _day(moment: datetime | None) -> str | None:
    """A feed's date without a time (KEV's dateAdded...) comes as midnight UTC: shown as that day, not 01:00 CET."""
    if moment is None or moment.utcoffset() not in (None, timedelta(0)) or moment.time() != time(0, 0):
        return None
    return moment.strftime("%Y-%m-%d")


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def email_context(
    est: Establishment,
    alerts: Sequence[Alert],
    settings: Settings,
    now: datetime,
    *,
    in_reply_to: str | None = None,
) -> dict[str, Any]:
    """Everything the templates show, as plain values; raises ValueError on no alert or a foreign alert.

    ``in_reply_to`` (the Message-ID of an earlier email about these findings) makes the email a reminder.
    """
    _check(est, alerts)
    lang = _lang(est)
    tz = settings.timezone
    ordered = sort_alerts(alerts)
    organisation, sender = _sender(settings)
    reply_to = parseaddr(settings.reply_to)[1] if settings.reply_to else None
    contact = reply_to or sender
    scrubber = _scrubber(ordered)
    tlp = strictest_tlp([a.tlp for a in ordered])
    top = ordered[0].severity
    tlp_color, tlp_background = _TLP_COLORS[tlp]
    items = [_alert_context(lang, a, tz, contact, scrubber) for a in ordered]
    return {
        "lang": lang,
        "resolved": [],  # render_email fills it: the findings no longer listed
        "establishment": {
            "id": est.id,
            "name": clean_header(est.name),
            "kind": est.kind,
            "region": est.region,
        },
        "alerts": items,
        "count": len(ordered),
        "kinds": sorted({a["kind"] for a in items}),
        "reminder": bool(in_reply_to),
        "label_width": max(len(row["label"]) for a in items for row in a["rows"]),
        "severity": top.label,
        "severity_label": _SEVERITY_LABELS[lang][top],
        "severity_color": _SEVERITY_COLORS[top],
        "tlp": tlp,
        "tlp_label": f"TLP:{tlp.upper()}",
        "tlp_text": _TLP_TEXT[lang][tlp],
        "tlp_color": tlp_color,
        "tlp_background": tlp_background,
        "generated": _when(now, tz),
        "generated_iso": _iso(now),
        "timezone": str(tz),
        "organisation": organisation,
        "sender": sender,
        "reply_to": reply_to,
        "contact": contact,
        "attachments": list(ATTACHMENTS),
    }


# ----------------------------------------------------------------------------------------------------
# Attachments: the findings as CSV and JSON, for the establishment's tools

ATTACHMENTS = ("findings.csv", "findings.json")
FINDING_FIELDS = (
    "severity",
    "kind",
    "indicator",
    "type",
    "reason",
    "asset",
    "feed",
    "entry",
    "title",
    "first_seen",
    "last_seen",
    "link",
    "tlp",
)
# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def finding_records(context: Mapping[str, Any]) -> list[dict[str, str]]:
    """One record per alert of an :func:`email_context`: the fields of :data:`FINDING_FIELDS`, as shown.

    The indicator is defanged and feed text scrubbed exactly as in the body; dates are ISO 8601.
    """
    return [
        {
            "severity": a["severity"],
            "kind": a["kind"],
            "indicator": a["indicator"],
            "type": a["indicator_type"],
            "reason": a["reason"],
            "asset": a["asset"],
            "feed": a["feed"],
            "entry": a["entry"],
            "title": a["title"],
            "first_seen": a["first_seen_iso"],
            "last_seen": a["last_seen_iso"],
            "link": a["link"] or "",
            "tlp": f"TLP:{a['tlp'].upper()}",
        }
        for a in context["alerts"]
    ]


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def findings_csv(records: Sequence[Mapping[str, str]]) -> str:
    """RFC 4180 CSV with a header line; a cell that a spreadsheet would run as a formula is prefixed with '.

    It starts with a byte-order mark: without one, Excel reads UTF-8 as the local code page and garbles accents
    (read it with the ``utf-8-sig`` codec).
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FINDING_FIELDS)
    for record in records:
        writer.writerow([_cell(record[name]) for name in FINDING_FIELDS])
    return out.getvalue()


def findings_json(context: Mapping[str, Any], records: Sequence[Mapping[str, str]]) -> str:
    """The findings as one JSON document: the TLP marking, the establishment, and one object per alert."""
    document = {
        "tlp": context["tlp_label"],
        "establishment": {"id": context["establishment"]["id"], "name": context["establishment"]["name"]},
        "generated": context["generated_iso"],
        "findings": [
            {**record, "details": alert["details"]} for record, alert in zip(records, context["alerts"], strict=True)
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# ----------------------------------------------------------------------------------------------------
# The Subject header


class _Subject(UnstructuredHeader, BaseHeader):
    """A Subject folded only where a fold decodes to exactly one space, so that it reads as it was rendered.

    Python's folder can leave a space at the end of a line before an encoded-word, and unfolding then shows two
    ("Garonne  —"). Here ASCII words stay as they are and each run of words that need encoding becomes
    encoded-words of whole characters; a fold replaces one separating space, or falls between two encoded-words
    of the same run, where folding white space is not part of the text (RFC 2047 §6.2).
    """

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        """Keep the text as rendered: an "=?...?=" from a feed is text here, not an encoded-word to decode."""
        super().parse(value, kwds)
        kwds["decoded"] = value

    def fold(self, *, policy: Policy) -> str:
        """``Subject: ...`` with its line separator, lines within ``policy.max_line_length`` where words allow."""
        return fold_subject(self.name, str(self), policy.max_line_length or 78, policy.linesep)


_Q_SAFE = frozenset(string.ascii_letters + string.digits + "!*+-/")
_EW_OPEN, _EW_CLOSE = "=?utf-8?q?", "?="
_EW_MAX = 75  # RFC 2047 §2
_EW_MIN_ROOM = len(_EW_OPEN) + len(_EW_CLOSE) + 12  # less room than this left on a line: start a new one


def _q(char: str) -> str:
    if char == " ":
        return "_"
    if char in _Q_SAFE:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8"))


def _encoded_words(text: str, *, first: int, rest: int) -> list[str]:
    """``text`` as Q encoded-words of whole characters, the first fitting in ``first`` columns, the others ``rest``."""
    words: list[str] = []
    room = min(first, _EW_MAX) - len(_EW_OPEN) - len(_EW_CLOSE)
    current = ""
    for char in text:
        piece = _q(char)
        if current and len(current) + len(piece) > room:
            words.append(_EW_OPEN + current + _EW_CLOSE)
            current = ""
            room = min(rest, _EW_MAX) - len(_EW_OPEN) - len(_EW_CLOSE)
        current += piece
    words.append(_EW_OPEN + current + _EW_CLOSE)
    return words


def _runs(text: str) -> list[tuple[str, bool]]:
    """The words of ``text``, consecutive words that need encoding joined into one run: (text, encode)."""
    runs: list[tuple[str, bool]] = []
    for word in text.split(" "):
        # A word that looks like an encoded-word is encoded too, or a reader would decode it.
        encode = not word.isascii() or "=?" in word
        if encode and runs and runs[-1][1]:
            runs[-1] = (runs[-1][0] + " " + word, True)
        else:
            runs.append((word, encode))
    return runs


def fold_subject(name: str, text: str, limit: int = 78, linesep: str = "\r\n") -> str:
    """``name: text`` folded for the wire so that unfolding and decoding gives back ``text`` exactly.

    Lines stay within ``limit`` unless a single ASCII word is longer; encoded-words stay within 75 characters.
    """
    out = f"{name}:"
    column = len(out)
    for run, encode in _runs(text):
        if not encode:
            if column + 1 + len(run) > limit and column > len(name) + 1:
                out, column = out + linesep, 0
            out, column = out + " " + run, column + 1 + len(run)
            continue
        if limit - column - 1 < _EW_MIN_ROOM:
            out, column = out + linesep, 0
        words = _encoded_words(run, first=limit - column - 1, rest=limit - 1)
        out, column = out + " " + words[0], column + 1 + len(words[0])
        for word in words[1:]:
            out, column = out + linesep + " " + word, 1 + len(word)
    return out + linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", _Subject)
# For building emails only: its Subject keeps "=?...?=" as text, so a message parsed with it would not decode one.
_POLICY = SMTP.clone(header_factory=_HEADERS)  # SMTP's (CRLF, lines of 78), with a Subject that folds cleanly


# ----------------------------------------------------------------------------------------------------
# The email


def _boundary(message_id: str, parts: Sequence[str], salt: str = "") -> str:
    # Random boundaries would make retries differ byte for byte; "=_" never occurs in quoted-printable text.
    digest = hashlib.sha256((salt + message_id).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    boundary = f"=_alertd_{salt}{digest}"
    counter = 0
    while any(boundary in part for part in parts):
        counter += 1
        boundary = f"=_alertd_{salt}{digest}_{counter}"
    return boundary


_INLINER = css_inline.CSSInliner(
    inline_style_tags=True,
    keep_style_tags=False,  # many mail clients drop <style>; everything is moved into style attributes
    keep_link_tags=False,
    load_remote_stylesheets=False,  # rendering stays pure: never fetch anything
)


def inline_css(html: str) -> str:
    """Move the rules of ``<style>`` blocks into ``style`` attributes, and drop the blocks (and any ``<link>``)."""
    try:
        return _INLINER.inline(html)
    except (css_inline.InlineError, ValueError) as exc:
        raise ValueError(f"cannot inline the CSS of the HTML template: {exc}") from exc


def render_email(
    env: jinja2.Environment,
    est: Establishment,
    alerts: Sequence[Alert],
    recipients: Sequence[str],
    *,
    settings: Settings,
    now: datetime,
    message_id: str,
    in_reply_to: str | None = None,
    resolved: Sequence[Finding] = (),
) -> EmailMessage:
    """The warning email for one establishment, in its language (contract §4).

    ``resolved`` lists findings of earlier emails that their feed no longer lists: a closing section says so.

    ``multipart/mixed``: a ``multipart/alternative`` (text, then HTML with its CSS inlined), then the findings
    as ``findings.csv`` and ``findings.json``. With ``in_reply_to`` it is a reminder threaded under that
    message: ``In-Reply-To``/``References`` set and the subject starting with "Re: ". Raises ValueError if
    ``alerts`` is empty, if any alert belongs to another establishment, or if there is no recipient. The same
    inputs give the same bytes (``message_id`` fixes the MIME boundaries).
    """
    context = email_context(est, alerts, settings, now, in_reply_to=in_reply_to)
    context["resolved"] = resolved_context(est, resolved)
    if not recipients:
        raise ValueError(f"no recipient for establishment {est.id!r}")
    lang = context["lang"]
    subject = env.get_template(f"{lang}/subject.txt.j2").render(context)
    if in_reply_to and not clean_header(subject).lower().startswith("re:"):
        subject = "Re: " + subject
    subject = clean_header(subject)
    text = env.get_template(f"{lang}/alert.txt.j2").render(context)
    html = inline_css(env.get_template(f"{lang}/alert.html.j2").render(context))
    records = finding_records(context)
    table = findings_csv(records)
    document = findings_json(context, records)

    msg = EmailMessage(policy=_POLICY)
    msg["From"] = settings.sender_from
    msg["To"] = ", ".join(clean_header(r, 320) for r in recipients)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now if now.tzinfo is not None else now.replace(tzinfo=UTC))
    msg["Message-ID"] = clean_header(message_id, 500)
    if in_reply_to:
        msg["In-Reply-To"] = clean_header(in_reply_to, 500)
        msg["References"] = clean_header(in_reply_to, 500)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    msg.set_boundary(_boundary(message_id, [text, html], "a"))
    # add_attachment wraps the alternative in a multipart/mixed, moving its Content-* headers into it.
    msg.add_attachment(table, subtype="csv", charset="utf-8", cte="base64", filename=ATTACHMENTS[0])
    msg.add_attachment(
        document.encode("utf-8"), maintype="application", subtype="json", cte="base64", filename=ATTACHMENTS[1]
    )
    msg.set_boundary(_boundary(message_id, [text, html], "m"))
    msg["Content-Language"] = lang
    return msg


__all__ = [
    "ATTACHMENTS",
    "BUNDLED_TEMPLATES",
    "FINDING_FIELDS",
    "REASONS",
    "TLP_ORDER",
    "clean_header",
    "defang",
    "defang_indicator",
    "email_context",
    "finding_records",
    "findings_csv",
    "findings_json",
    "fold_subject",
    "inline_css",
    "make_environment",
    "render_email",
    "sort_alerts",
    "strictest_tlp",
]
