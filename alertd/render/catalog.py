"""The words of the emails, in each bundled language: every code that reaches the reader, put into words.

Messages are looked up by a context (what kind of code: ``reason``, ``rule``, ``label``...) and a code (the
value of an enum of :mod:`alertd.domain.codes` or :mod:`alertd.domain.values`, or a key of render's own);
``str.format`` placeholders (``{asset}``, ``{i}``...) are filled by the caller.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from alertd.domain.codes import AlertKind, MatchReason, RuleKind, SeverityRule
from alertd.domain.values import FeedKind, IndicatorType, Severity

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "en"  # for an establishment whose language has no catalog


class Words:
    """The messages of one language."""

    def __init__(self, language: str, messages: Mapping[tuple[str, str], str]) -> None:
        self.language = language
        self._messages = messages

    def has(self, context: str, code: str) -> bool:
        """Whether the catalog has words for ``code`` in ``context``."""
        return (context, code) in self._messages

    def word(self, context: str, code: str) -> str:
        """The words for ``code`` in ``context``; KeyError when the catalog has none."""
        try:
            return self._messages[context, code]
        except KeyError:
            raise KeyError(f"no {self.language} words for {context} {code!r}") from None

    def severity(self, severity: Severity) -> str:
        """The severity's label (``CRITIQUE``)."""
        return self.word("severity", severity.label)

    def feed_kind(self, kind: FeedKind) -> str:
        """What a feed reports, in words (``vulnérabilité``)."""
        return self.word("feed-kind", kind.value)

    def indicator_type(self, kind: IndicatorType) -> str:
        """An indicator's type, in words (``adresse IPv4``)."""
        return self.word("indicator-type", kind.value)

    def reason(self, code: str, *, asset: str, where: str) -> str:
        """Why an indicator concerns the establishment (``code``, a :class:`MatchReason`), as a sentence naming
        ``asset``, the item hit; ``where`` says in which kind of source a name was found. A reason without words
        still names the asset.
        """
        template = self.word("reason", code) if self.has("reason", code) else self.word("reason", "other")
        return template.format(asset=asset, where=where, reason=code)

    def where(self, kind: FeedKind) -> str:
        """The kind of source a name was found in (``l'avis de sécurité``)."""
        return self.word("where", kind.value)

    def summary(self, kind: AlertKind, *, indicator: str) -> str:
        """The alert in a few words for the subject line, naming the (defanged) indicator."""
        return self.word("summary", kind.value).format(i=indicator)

    def action(self, step: str) -> str:
        """One step of "what to do", with ``str.format`` placeholders left for the caller."""
        return self.word("action", step)

    def attr(self, key: str) -> str:
        """The label of a detail a feed gives (``Finding.attrs``)."""
        return self.word("attr", key)

    def ransomware(self, value: str) -> str:
        """KEV's ``knownRansomwareCampaignUse`` in words; a value the catalog does not know as it is."""
        key = value.lower()
        return self.word("ransomware", key) if self.has("ransomware", key) else value

    def label(self, key: str) -> str:
        """A row label of an alert's table (``why``, ``indicator:host``...)."""
        return self.word("label", key)

    def tlp(self, marking: str) -> str:
        """What a TLP marking allows the recipients to do."""
        return self.word("tlp", marking)

    def rule(self, rule: SeverityRule) -> str:
        """The rule that set an alert's severity, with its arguments; an unknown rule as it was stored."""
        if rule.kind is RuleKind.UNKNOWN:
            return rule.text or ""
        cvss = f"{rule.cvss:.1f}" if rule.cvss is not None else ""
        return self.word("rule", rule.kind.value).format(feed=rule.feed, cvss=cvss)


@functools.cache
def words(language: str) -> Words:
    """The words of ``language``, or of :data:`DEFAULT_LANGUAGE` when alertd has no catalog for it."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    return Words(language, _MESSAGES[language])


def rule_text(language: str, rule: SeverityRule) -> str:
    """The severity rule in ``language`` (``alertd poll --dry-run`` prints it in English)."""
    return words(language).rule(rule)


_MESSAGES: Mapping[str, Mapping[tuple[str, str], str]] = {
    "fr": {
        ("severity", "imminent"): "IMMINENT",
        ("severity", "critical"): "CRITIQUE",
        ("severity", "high"): "ÉLEVÉ",
        ("severity", "info"): "INFO",
        ("feed-kind", "compromise"): "compromission",
        ("feed-kind", "exposure"): "exposition",
        ("feed-kind", "vulnerability"): "vulnérabilité",
        ("feed-kind", "advisory"): "avis de sécurité",
        ("feed-kind", "leak"): "fuite de données",
        ("indicator-type", "ipv4"): "adresse IPv4",
        ("indicator-type", "ipv6"): "adresse IPv6",
        ("indicator-type", "cidr"): "réseau",
        ("indicator-type", "asn"): "système autonome",
        ("indicator-type", "domain"): "domaine",
        ("indicator-type", "url"): "URL",
        ("indicator-type", "email"): "adresse e-mail",
        ("indicator-type", "cve"): "identifiant CVE",
        ("indicator-type", "hash"): "empreinte de fichier",
        ("indicator-type", "product"): "produit",
        ("indicator-type", "name"): "nom d'organisation",
        ("reason", "address-in-network"): "L'adresse signalée se trouve dans votre réseau {asset}.",
        ("reason", "network-overlap"): "Le réseau signalé recouvre votre réseau {asset}.",
        ("reason", "domain"): ("Le domaine ou l'hôte signalé est votre domaine {asset} ou l'un de ses sous-domaines."),
        ("reason", "asn"): "Le système autonome signalé est le vôtre ({asset}).",
        ("reason", "kev-product"): (
            "Une vulnérabilité activement exploitée (catalogue CISA KEV) affecte {asset}, "
            "présent dans votre inventaire logiciel."
        ),
        ("reason", "cve-product"): ("La vulnérabilité affecte {asset}, présent dans votre inventaire logiciel."),
        ("reason", "product-mention"): "L'avis cite {asset}, présent dans votre inventaire logiciel.",
        ("reason", "name-mention"): ("Le nom ou l'alias de votre établissement « {asset} » apparaît dans {where}."),
        ("reason", "other"): "Correspondance avec votre actif {asset} (règle « {reason} »).",
        ("where", "leak"): "une publication d'un site de fuite de données",
        ("where", "advisory"): "l'avis de sécurité",
        ("where", "vulnerability"): "le bulletin de vulnérabilité",
        ("where", "compromise"): "une liste d'indicateurs de compromission",
        ("where", "exposure"): "un rapport d'exposition",
        ("summary", "compromise:address"): "adresse compromise {i}",
        ("summary", "compromise:domain"): "domaine compromis {i}",
        ("summary", "compromise:url"): "URL malveillante {i}",
        ("summary", "compromise:email"): "adresse e-mail compromise {i}",
        ("summary", "compromise"): "compromission {i}",
        ("summary", "exposure"): "service exposé {i}",
        ("summary", "vulnerability:kev"): "vulnérabilité exploitée {i}",
        ("summary", "vulnerability"): "vulnérabilité {i}",
        ("summary", "advisory"): "avis de sécurité concernant {i}",
        ("summary", "leak"): "cité sur un site de fuite ({i})",
        ("action", "compromise.isolate"): (
            "Identifiez l'équipement ou le service correspondant à {i}, isolez-le du réseau "
            "si possible et recherchez des traces de compromission."
        ),
        ("action", "compromise.search-logs"): (
            "Recherchez dans vos journaux (pare-feu, proxy, DNS, messagerie) les connexions "
            "depuis et vers {i}, au moins depuis la date de première observation."
        ),
        ("action", "compromise.contact"): "Contactez-nous pour être accompagné : {contact}.",
        ("action", "vulnerability.patch"): (
            "Appliquez le correctif de l'éditeur sur {asset} ou, à défaut, ses mesures de contournement."
        ),
        ("action", "vulnerability.check-compromise"): (
            "Vérifiez que l'équipement n'a pas déjà été compromis avant ou pendant la correction."
        ),
        ("action", "leak.check-theft"): (
            "Vérifiez si des données de votre établissement ont été dérobées (flux sortants "
            "inhabituels, comptes, sauvegardes, serveurs de fichiers)."
        ),
        ("action", "leak.respond"): (
            "Déclenchez votre procédure de réponse à incident et prévenez votre direction et "
            "votre DPO ; si des données personnelles sont concernées, la CNIL doit être "
            "notifiée sous 72 heures."
        ),
        ("action", "leak.contact"): "Contactez-nous sans attendre : {contact}.",
        ("action", "advisory.read"): "Lisez l'avis de sécurité et vérifiez si vos systèmes sont exposés.",
        ("action", "advisory.patch"): "Appliquez les correctifs ou les mesures de contournement recommandés.",
        ("action", "exposure.close"): (
            "Fermez l'accès depuis Internet au service exposé{port} ou mettez-le à jour sans attendre."
        ),
        ("action", "exposure.check-compromise"): (
            "Vérifiez que le service n'a pas été compromis (comptes, journaux, fichiers récents)."
        ),
        ("action", "kev.first"): "Cette vulnérabilité est activement exploitée : traitez-la en priorité.",
        ("action", "kev.due-date"): "Date limite de correction fixée par la CISA : {due_date}.",
        ("action", "kev.required-action"): "Action requise (CISA) : {required_action}",
        ("action", "port"): " (port {port})",
        ("attr", "malware"): "Maliciel",
        ("attr", "port"): "Port",
        ("attr", "first_seen"): "Signalé par la source depuis",
        ("attr", "group"): "Groupe",
        ("attr", "website"): "Site revendiqué",
        ("attr", "cves"): "CVE citées",
        ("attr", "cvss"): "Score CVSS",
        ("attr", "ransomware"): "Utilisée par des rançongiciels",
        ("attr", "date_added"): "Ajoutée au catalogue KEV le",
        ("attr", "cwes"): "Faiblesses (CWE)",
        ("attr", "cwe"): "Faiblesse (CWE)",
        ("attr", "due_date"): "Date limite (CISA KEV)",
        ("attr", "required_action"): "Action requise",
        ("ransomware", "known"): "oui",
        ("ransomware", "unknown"): "pas à notre connaissance",
        ("label", "why"): "Pourquoi vous",
        ("label", "feed"): "Flux",
        ("label", "link"): "Lien",
        ("label", "reference"): "Référence",
        ("label", "first_seen"): "Première observation",
        ("label", "last_seen"): "Dernière observation",
        ("label", "rule"): "Règle de gravité",
        ("label", "product"): "Produit concerné",
        ("label", "version"): "Version (inventaire)",
        ("label", "version_unknown"): "inconnue : vérifiez-la dans votre inventaire",
        ("label", "indicator"): "Indicateur",
        ("label", "indicator:host"): "Hôte signalé",
        ("label", "indicator:vulnerability"): "Vulnérabilité",
        ("label", "indicator:leak"): "Nom publié",
        ("label", "indicator:advisory"): "Élément cité",
        ("label", "title"): "Source",
        ("label", "title:vulnerability"): "Intitulé",
        ("label", "title:leak"): "Publication",
        ("label", "title:advisory"): "Avis",
        ("label", "published"): "Publié le",
        ("label", "published:leak"): "Date de la publication",
        ("tlp", "clear"): "Les destinataires peuvent diffuser cette information sans limite.",
        ("tlp", "green"): (
            "Diffusion limitée : les destinataires peuvent partager cette information au sein"
            " de leur communauté, mais pas publiquement."
        ),
        ("tlp", "amber"): (
            "Diffusion limitée : les destinataires peuvent partager cette information avec "
            "les membres de leur organisation et ses clients, selon le besoin d'en connaître."
        ),
        ("tlp", "amber+strict"): (
            "Diffusion limitée : les destinataires peuvent partager cette information avec "
            "les membres de leur organisation seulement, selon le besoin d'en connaître."
        ),
        ("tlp", "red"): "Réservé aux seuls destinataires : aucune diffusion supplémentaire.",
        ("rule", "feed-severity"): "gravité fixée par le flux {feed}",
        ("rule", "compromise-reported"): "compromission signalée",
        ("rule", "leak-reported"): "établissement cité sur un site de fuite",
        ("rule", "exposed-service"): "service vulnérable exposé",
        ("rule", "kev"): "vulnérabilité exploitée connue (KEV)",
        ("rule", "cvss"): "CVSS {cvss} ≥ 7",
        ("rule", "no-higher-rule"): "correspondance, sans règle plus grave",
    },
    "en": {
        ("severity", "info"): "INFO",
        ("severity", "high"): "HIGH",
        ("severity", "critical"): "CRITICAL",
        ("severity", "imminent"): "IMMINENT",
        ("feed-kind", "compromise"): "compromise",
        ("feed-kind", "exposure"): "exposure",
        ("feed-kind", "vulnerability"): "vulnerability",
        ("feed-kind", "advisory"): "advisory",
        ("feed-kind", "leak"): "data leak",
        ("indicator-type", "ipv4"): "IPv4 address",
        ("indicator-type", "ipv6"): "IPv6 address",
        ("indicator-type", "cidr"): "network",
        ("indicator-type", "asn"): "autonomous system",
        ("indicator-type", "domain"): "domain",
        ("indicator-type", "url"): "URL",
        ("indicator-type", "email"): "email address",
        ("indicator-type", "cve"): "CVE id",
        ("indicator-type", "hash"): "file hash",
        ("indicator-type", "product"): "product",
        ("indicator-type", "name"): "organisation name",
        ("reason", "address-in-network"): "The reported address lies in your network {asset}.",
        ("reason", "network-overlap"): "The reported network overlaps your network {asset}.",
        ("reason", "domain"): "The reported domain or host is, or is under, your domain {asset}.",
        ("reason", "asn"): "The reported autonomous system is yours ({asset}).",
        ("reason", "kev-product"): (
            "A known-exploited vulnerability (CISA KEV catalogue) affects {asset}, listed in your software inventory."
        ),
        ("reason", "cve-product"): "The vulnerability affects {asset}, listed in your software inventory.",
        ("reason", "product-mention"): "The advisory names {asset}, listed in your software inventory.",
        ("reason", "name-mention"): "Your establishment's name or alias “{asset}” appears in {where}.",
        ("reason", "other"): "Matched your asset {asset} (rule “{reason}”).",
        ("where", "leak"): "a post on a data-leak site",
        ("where", "advisory"): "the advisory",
        ("where", "vulnerability"): "the vulnerability bulletin",
        ("where", "compromise"): "a list of indicators of compromise",
        ("where", "exposure"): "an exposure report",
        ("summary", "compromise:address"): "compromised address {i}",
        ("summary", "compromise:domain"): "compromised domain {i}",
        ("summary", "compromise:url"): "malicious URL {i}",
        ("summary", "compromise:email"): "compromised email address {i}",
        ("summary", "compromise"): "compromise {i}",
        ("summary", "exposure"): "exposed service {i}",
        ("summary", "vulnerability:kev"): "exploited vulnerability {i}",
        ("summary", "vulnerability"): "vulnerability {i}",
        ("summary", "advisory"): "advisory about {i}",
        ("summary", "leak"): "named on a leak site ({i})",
        ("action", "compromise.isolate"): (
            "Identify the device or service behind {i}, isolate it from the network if you "
            "can, and look for signs of compromise."
        ),
        ("action", "compromise.search-logs"): (
            "Search your logs (firewall, proxy, DNS, mail) for connections to and from {i}, "
            "going back at least to the first-seen date."
        ),
        ("action", "compromise.contact"): "Contact us for help: {contact}.",
        ("action", "vulnerability.patch"): (
            "Apply the vendor's patch to {asset} or, failing that, the vendor's mitigations."
        ),
        ("action", "vulnerability.check-compromise"): (
            "Check that the device was not already compromised before or while it was patched."
        ),
        ("action", "leak.check-theft"): (
            "Check whether your establishment's data was stolen (unusual outbound traffic, "
            "accounts, backups, file servers)."
        ),
        ("action", "leak.respond"): (
            "Start your incident response procedure and inform your management and your DPO; "
            "if personal data is involved, the supervisory authority must be notified within "
            "72 hours (GDPR art. 33)."
        ),
        ("action", "leak.contact"): "Contact us without delay: {contact}.",
        ("action", "advisory.read"): "Read the advisory and check whether your systems are exposed.",
        ("action", "advisory.patch"): "Apply the recommended patches or mitigations.",
        ("action", "exposure.close"): (
            "Close Internet access to the exposed service{port} or update it without delay."
        ),
        ("action", "exposure.check-compromise"): (
            "Check that the service was not compromised (accounts, logs, recent files)."
        ),
        ("action", "kev.first"): "This vulnerability is being exploited: treat it first.",
        ("action", "kev.due-date"): "Remediation due date set by CISA: {due_date}.",
        ("action", "kev.required-action"): "Required action (CISA): {required_action}",
        ("action", "port"): " (port {port})",
        ("attr", "malware"): "Malware",
        ("attr", "port"): "Port",
        ("attr", "first_seen"): "Reported by the source since",
        ("attr", "group"): "Group",
        ("attr", "website"): "Website claimed",
        ("attr", "cves"): "CVEs named",
        ("attr", "cvss"): "CVSS score",
        ("attr", "ransomware"): "Used in ransomware campaigns",
        ("attr", "date_added"): "Added to the KEV catalogue on",
        ("attr", "cwes"): "Weaknesses (CWE)",
        ("attr", "cwe"): "Weakness (CWE)",
        ("attr", "due_date"): "Due date (CISA KEV)",
        ("attr", "required_action"): "Required action",
        ("ransomware", "known"): "yes",
        ("ransomware", "unknown"): "not known",
        ("label", "why"): "Why you",
        ("label", "feed"): "Feed",
        ("label", "link"): "Link",
        ("label", "reference"): "Reference",
        ("label", "first_seen"): "First seen",
        ("label", "last_seen"): "Last seen",
        ("label", "rule"): "Severity rule",
        ("label", "product"): "Product",
        ("label", "version"): "Version (inventory)",
        ("label", "version_unknown"): "unknown: check it in your inventory",
        ("label", "indicator"): "Indicator",
        ("label", "indicator:host"): "Reported host",
        ("label", "indicator:vulnerability"): "Vulnerability",
        ("label", "indicator:leak"): "Name posted",
        ("label", "indicator:advisory"): "Matched item",
        ("label", "title"): "Source",
        ("label", "title:vulnerability"): "Title",
        ("label", "title:leak"): "Post",
        ("label", "title:advisory"): "Advisory",
        ("label", "published"): "Published",
        ("label", "published:leak"): "Posted on",
        ("tlp", "clear"): "Recipients may spread this to the world; there is no limit on disclosure.",
        ("tlp", "green"): ("Limited disclosure: recipients may share this within their community, but not publicly."),
        ("tlp", "amber"): (
            "Limited disclosure: recipients may share this with members of their organisation"
            " and its clients on a need-to-know basis."
        ),
        ("tlp", "amber+strict"): (
            "Limited disclosure: recipients may share this with members of their organisation"
            " only, on a need-to-know basis."
        ),
        ("tlp", "red"): "For the eyes and ears of individual recipients only; no further disclosure.",
        ("rule", "feed-severity"): "feed {feed} severity",
        ("rule", "compromise-reported"): "compromise reported",
        ("rule", "leak-reported"): "leak reported",
        ("rule", "exposed-service"): "exposed vulnerable service",
        ("rule", "kev"): "known exploited vulnerability (KEV)",
        ("rule", "cvss"): "CVSS {cvss} >= 7",
        ("rule", "no-higher-rule"): "matched, no higher rule applies",
    },
}
