"""The render stage: alerts for one establishment → one email, in its language (DESIGN §4).

Pure: the only I/O is the Jinja2 loader reading templates, and the time is passed in. Everything that
came from a feed is untrusted: indicators are shown defanged, headers are stripped of control characters,
and the HTML part relies on autoescape (no feed string is ever marked safe).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from .config import Settings
from .model import Alert, FeedKind, Indicator, IndicatorType, Severity
from .registry import Establishment


def _bundled_templates() -> Path:
    """The templates shipped with alertd: inside the installed package, or the checkout's ``templates/``."""
    installed = Path(__file__).resolve().parent / "templates"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "templates"


BUNDLED_TEMPLATES = _bundled_templates()
TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
REASONS = (
    "address-in-network",
    "network-overlap",
    "domain",
    "asn",
    "kev-product",
    "cve-product",
    "product-mention",
    "name-mention",
)

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
# Reasons whose asset is a network or domain of the establishment: shown defanged like the indicators.
_NETWORK_REASONS = frozenset({"address-in-network", "network-overlap", "domain"})

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

# The attributes worth showing, in this order, with their labels.
_ATTRS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "fr": (
        ("malware", "Maliciel"),
        ("port", "Port"),
        ("group", "Groupe"),
        ("ransomware", "Utilisée par des rançongiciels"),
        ("cvss", "Score CVSS"),
        ("due_date", "Date limite (CISA KEV)"),
        ("required_action", "Action requise"),
    ),
    "en": (
        ("malware", "Malware"),
        ("port", "Port"),
        ("group", "Group"),
        ("ransomware", "Used in ransomware campaigns"),
        ("cvss", "CVSS score"),
        ("due_date", "Due date (CISA KEV)"),
        ("required_action", "Required action"),
    ),
}

# FIRST TLP 2.0 definitions, and colours (label, background).
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


def _check(est: Establishment, alerts: Sequence[Alert]) -> None:
    if not alerts:
        raise ValueError(f"no alert to render for establishment {est.id!r}")
    foreign = sorted({a.finding.establishment for a in alerts if a.finding.establishment != est.id})
    if foreign:
        # An email never carries another establishment's data (DESIGN §4).
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
    elif f.kind is FeedKind.VULNERABILITY and f.reason == "kev-product":
        key = "vulnerability:kev"
    return table[key].format(i=shown)


def _actions(lang: str, alert: Alert, shown: str, asset: str, attrs: Mapping[str, str], contact: str) -> list[str]:
    f = alert.finding
    port = _PORT[lang].format(port=attrs["port"]) if attrs.get("port") else ""
    steps = [s.format(i=shown, asset=asset, contact=contact, port=port) for s in _ACTIONS[lang][f.kind]]
    if f.kind is FeedKind.VULNERABILITY:
        urgent, due, required = _KEV_ACTIONS[lang]
        if f.reason == "kev-product" or attrs.get("due_date"):
            steps.insert(0, urgent)
        if attrs.get("due_date"):
            steps.append(due.format(due_date=attrs["due_date"]))
        if attrs.get("required_action"):
            steps.append(required.format(required_action=attrs["required_action"]))
    return steps


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
    if f.reason in _NETWORK_REASONS:
        asset = defang(asset)
    template = _REASONS[lang].get(f.reason, _REASON_FALLBACK[lang])
    where = _WHERE[lang][f.kind]
    reason_text = template.format(asset=asset, where=where, reason=clean_header(f.reason, 60))
    attrs = {
        key: _scrub(clean_header(str(f.attrs[key]), _ATTR_LIMIT), scrubber)
        for key, _label in _ATTRS[lang]
        if key in f.attrs and str(f.attrs[key]).strip()
    }
    link_text: str | None = None
    link_href: str | None = None
    if f.link:
        raw_link = "".join(f.link.split())  # no whitespace or line break survives in a URL
        raw_link = _CONTROL.sub("", raw_link)[:2000]
        link_text = _scrub(raw_link, scrubber)
        # Only a plain web page is made clickable, and never one that carries a reported indicator.
        if link_text == raw_link and raw_link.lower().startswith(("https://", "http://")):
            link_href = raw_link
    # A vulnerability's KEV due date and required action are told in "what to do", not twice.
    told = {"due_date", "required_action"} if f.kind is FeedKind.VULNERABILITY else set()
    return {
        "severity": alert.severity.label,
        "severity_label": _SEVERITY_LABELS[lang][alert.severity],
        "severity_color": _SEVERITY_COLORS[alert.severity],
        "kind": f.kind.value,
        "kind_label": _KIND_LABELS[lang][f.kind],
        "indicator": shown,
        "indicator_type": f.indicator.type.value,
        "indicator_type_label": _TYPE_LABELS[lang][f.indicator.type],
        "asset": asset,
        "reason": f.reason,
        "reason_text": reason_text,
        "feed": f.feed,
        "title": _scrub(clean_header(f.title, _TITLE_LIMIT), scrubber),
        "link": link_text,
        "link_href": link_href,
        "published": _when(f.published, tz),
        "first_seen": _when(alert.first_seen, tz),
        "last_seen": _when(alert.last_seen, tz),
        "rule": alert.rule,
        "attrs": [(label, attrs[key]) for key, label in _ATTRS[lang] if key in attrs and key not in told],
        "actions": _actions(lang, alert, shown, asset, attrs, contact),
        "summary": _summary(lang, alert, shown),
        "follow_up": alert.follow_up,
        "tlp": strictest_tlp([alert.tlp]),
        "key": f.key,
    }


def email_context(est: Establishment, alerts: Sequence[Alert], settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything the templates show, as plain values; raises ValueError on no alert or a foreign alert."""
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
    return {
        "lang": lang,
        "establishment": {
            "id": est.id,
            "name": clean_header(est.name),
            "kind": est.kind,
            "region": est.region,
        },
        "alerts": [_alert_context(lang, a, tz, contact, scrubber) for a in ordered],
        "count": len(ordered),
        "severity": top.label,
        "severity_label": _SEVERITY_LABELS[lang][top],
        "severity_color": _SEVERITY_COLORS[top],
        "tlp": tlp,
        "tlp_label": f"TLP:{tlp.upper()}",
        "tlp_text": _TLP_TEXT[lang][tlp],
        "tlp_color": tlp_color,
        "tlp_background": tlp_background,
        "generated": _when(now, tz),
        "timezone": str(tz),
        "organisation": organisation,
        "sender": sender,
        "reply_to": reply_to,
        "contact": contact,
    }


# ----------------------------------------------------------------------------------------------------
# The email


def _boundary(message_id: str, parts: Sequence[str]) -> str:
    # Random boundaries would make retries differ byte for byte; "=_" never occurs in quoted-printable text.
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    boundary = f"=_alertd_{digest}"
    counter = 0
    while any(boundary in part for part in parts):
        counter += 1
        boundary = f"=_alertd_{digest}_{counter}"
    return boundary


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
) -> EmailMessage:
    """The warning email for one establishment: text and HTML alternatives in its language.

    Raises ValueError if ``alerts`` is empty, if any alert belongs to another establishment, or if there is no
    recipient. The same inputs give the same bytes (``message_id`` fixes the MIME boundary).
    """
    context = email_context(est, alerts, settings, now)
    if not recipients:
        raise ValueError(f"no recipient for establishment {est.id!r}")
    lang = context["lang"]
    subject = clean_header(env.get_template(f"{lang}/subject.txt.j2").render(context))
    text = env.get_template(f"{lang}/alert.txt.j2").render(context)
    html = env.get_template(f"{lang}/alert.html.j2").render(context)

    msg = EmailMessage(policy=SMTP)
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
    msg["Content-Language"] = lang  # after add_alternative, which moves Content-* headers into the first part
    msg.set_boundary(_boundary(message_id, [text, html]))
    return msg


__all__ = [
    "BUNDLED_TEMPLATES",
    "REASONS",
    "TLP_ORDER",
    "clean_header",
    "defang",
    "defang_indicator",
    "email_context",
    "make_environment",
    "render_email",
    "sort_alerts",
    "strictest_tlp",
]
