"""The words of the emails, in each bundled language: every code that reaches the reader, put into words.

The words live in gettext catalogs, ``locale/LANG/LC_MESSAGES/alertd.po``, one message per code: ``msgctxt``
says what kind of code (``reason``, ``rule``, ``label``...), ``msgid`` is the code (the value of an enum of
:mod:`alertd.domain.codes` or :mod:`alertd.domain.values`, or a key of render's own), and ``msgstr`` keeps
``str.format`` placeholders (``{asset}``, ``{i}``...) that the caller fills.

Babel reads the ``.po`` files and compiles them in memory, once per language: the ``.po`` is the only copy, so
there is no ``.mo`` to rebuild and keep in sync, and a few hundred messages take milliseconds to read. As they are
read, the messages get their language's typography (the catalog's ``typography`` message names it: French spacing
before ``: ; ? !`` and inside « », see :mod:`~alertd.render.typography`), so every message has it, those the
templates read through Jinja2's i18n extension too; the values filled in later are left as they came.

What is language but not words lives in the catalogs as well: date patterns (CLDR, context ``date``), the
article an establishment's name takes (contexts ``article`` and ``article-heads``), the French of CISA's stock
KEV actions (context ``kev-action``).
"""

from __future__ import annotations

import functools
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from alertd.domain.codes import AlertKind, RuleKind, SeverityRule, TextWarning
from alertd.domain.facts import Fact, VersionFact
from alertd.domain.tlp import Tlp
from alertd.domain.values import FeedKind, IndicatorType, Severity
from alertd.render.articles import Articles, Named
from alertd.render.typography import STYLES

LOCALE = Path(__file__).resolve().parent / "locale"
DOMAIN = "alertd"
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "en"  # for an establishment whose language has no catalog


def read_catalog(language: str) -> Catalog:
    """The ``.po`` catalog of ``language`` as Babel reads it (every message, with its context and comments)."""
    with (LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALE", "Named", "Words", "read_catalog", "rule_text", "words"]

# Messages that are patterns or tables, not prose: read as written, without the language's typography.
_RAW_CONTEXTS = frozenset({"typography", "date", "article-heads"})
_CONTEXT_SEPARATOR = "\x04"  # how a compiled catalog keys a message with a context: "context\x04msgid"
_SPACES = re.compile(r"\s+")


def _typeset(translations: Translations, catalog: Catalog) -> None:
    """Give every prose message of the compiled ``translations`` the typography its catalog names."""
    style_message = catalog.get("punctuation", context="typography")
    style = STYLES[str(style_message.string) if style_message is not None and style_message.string else "plain"]
    compiled: dict[str | tuple[str, int], str] = translations._catalog
    for key, text in compiled.items():
        msgid = key[0] if isinstance(key, tuple) else key
        context = msgid.partition(_CONTEXT_SEPARATOR)[0] if _CONTEXT_SEPARATOR in msgid else None
        if msgid and context not in _RAW_CONTEXTS:
            compiled[key] = style(text)


def kev_phrase(text: str) -> str:
    """A KEV ``requiredAction`` as the catalog keys it: spaces collapsed, stray quotes dropped, one final period
    (the catalogue writes the same phrase with and without them)."""
    phrase = _SPACES.sub(" ", text).strip().strip('"').strip()
    return phrase if not phrase or phrase.endswith(".") else phrase + "."


@functools.lru_cache(maxsize=1024)
def _moment(local: datetime, zone: str, pattern: str, language: str) -> str:
    """A local time written with a CLDR pattern, once per distinct value: an email's times repeat (the poll's,
    the run's), and babel parses the pattern and the locale at each call. ``zone`` is in the key because two
    local times of different zones at one instant compare equal."""
    return format_datetime(local, pattern, locale=language).format(zone=local.tzname() or zone)


@functools.lru_cache(maxsize=1024)
def _day(when: date, pattern: str, language: str) -> str:
    """A day written with a CLDR pattern, once per distinct value: an email's days repeat (due dates, a feed's
    dates), and babel parses the pattern and the locale at each call."""
    return str(format_date(when, pattern, locale=language))


class Words:
    """The messages of one language, looked up by context and code."""

    def __init__(self, language: str, catalog: Catalog) -> None:
        self.language = language
        self._catalog = catalog
        compiled = io.BytesIO()
        write_mo(compiled, catalog)  # fuzzy and untranslated messages are left out, as msgfmt does
        compiled.seek(0)
        self.translations = Translations(compiled, domain=DOMAIN)
        _typeset(self.translations, catalog)
        self._articles = Articles.from_messages(
            {str(m.id): str(m.string) for m in catalog if m.context == "article-heads"}
        )
        # The words found, by (context, code): an email looks up a hundred, and babel's lookup normalises its key
        # each time. Only codes the catalog has are kept, so the table stays within the catalog's size.
        self._found: dict[tuple[str, str], str] = {}

    def has(self, context: str, code: str) -> bool:
        """Whether the catalog has words for ``code`` in ``context`` (a message neither fuzzy nor empty)."""
        if (context, code) in self._found:
            return True
        message = self._catalog.get(code, context=context)
        return message is not None and bool(message.string) and not message.fuzzy

    def word(self, context: str, code: str) -> str:
        """The words for ``code`` in ``context``; KeyError when the catalog has none."""
        found = self._found.get((context, code))
        if found is not None:
            return found
        if not self.has(context, code):
            raise KeyError(f"no {self.language} words for {context} {code!r}")
        found = self._found[(context, code)] = str(self.translations.pgettext(context, code))
        return found

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

    def attr(self, fact: Fact) -> str:
        """The label of a fact a feed gives (a field of ``Finding.facts``), by its key."""
        return self.word("attr", fact.value)

    def ransomware(self, value: str) -> str:
        """KEV's ``knownRansomwareCampaignUse`` in words; a value the catalog does not know as it is."""
        key = value.lower()
        return self.word("ransomware", key) if self.has("ransomware", key) else value

    def warning(self, code: TextWarning, *, host: str) -> str:
        """A warning about feed text, naming the (defanged) ``host`` it is about (a deceptive domain name)."""
        return self.word("warning", code.value).format(host=host)

    def label(self, key: str) -> str:
        """A row label of an alert's table (``why``, ``indicator:host``...)."""
        return self.word("label", key)

    def tlp(self, marking: Tlp) -> str:
        """What a TLP marking allows the recipients to do."""
        return self.word("tlp", marking.value)

    def decimal(self, value: float) -> str:
        """A score with one decimal as the language writes it: "9,8" in French, "9.8" in English."""
        return str(format_decimal(value, format="0.0", locale=self.language))

    def rule(self, rule: SeverityRule) -> str:
        """The rule that set an alert's severity, with its arguments; an unknown rule as it was stored."""
        if rule.kind is RuleKind.UNKNOWN:
            return rule.text or ""
        cvss = self.decimal(rule.cvss) if rule.cvss is not None else ""
        text = self.word("rule", rule.kind.value).format(feed=rule.feed, cvss=cvss)
        return self.word("rule", "lowered").format(rule=text) if rule.unverified else text

    def evidence(self, version: VersionFact) -> str | None:
        """What a software finding's version evidence rests on, in words; None for an earlier version's fact,
        which recorded none."""
        if version.basis is None:
            return None
        fixed = (version.range or "").lstrip("<>=")
        shown_range = self.version_range(version.range) if version.range else ""
        return self.word("evidence", version.basis.value).format(
            range=shown_range, source=version.source or "", fixed=fixed
        )

    def _raw(self, context: str, code: str) -> str:
        """A pattern or table message as written (no typography); KeyError when the catalog has none."""
        message = self._catalog.get(code, context=context)
        if message is None or not message.string or message.fuzzy:
            raise KeyError(f"no {self.language} words for {context} {code!r}")
        return str(message.string)

    def _date_pattern(self, name: str, day: int) -> str:
        """The CLDR pattern ``name`` (``day``, ``moment``); ``name:1`` on the first of a month where the language
        has one (French writes "1er mars")."""
        return self._raw("date", f"{name}:1") if day == 1 and self.has("date", f"{name}:1") else self._raw("date", name)

    def moment(self, when: datetime, tz: ZoneInfo) -> str:
        """A date and time in the reader's time zone, as the language writes it: "24 mars 2022 à 08 h 30 CET",
        "24 March 2022 at 08:30 CET".

        The zone's abbreviation is told in every language (CET, CEST, UTC): the reader's zone is an operator's
        setting, and an email is read where it is read. A naive ``when`` is taken as UTC.
        """
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        local = when.astimezone(tz)
        return _moment(local, str(tz), self._date_pattern("moment", local.day), self.language)

    def day(self, when: date) -> str:
        """A day (a deadline, a date a source gives without a time), as the language writes it: "24 mars 2022"."""
        return _day(when, self._date_pattern("day", when.day), self.language)

    def establishment(self, name: str) -> Named:
        """An establishment's name with the article and prepositions the language puts before it (French: "le
        Centre hospitalier X", "du…", "au…", from the name's head noun); English: the name as it is."""
        return self._articles.named(name)

    def kev_action(self, text: str) -> str:
        """A KEV entry's required action in the reader's language: the catalog's words for one of CISA's stock
        phrases, any other quoted as the source's own (« … » (texte original de la CISA, en anglais))."""
        phrase = kev_phrase(text)
        if self.has("kev-action", phrase):
            return self.word("kev-action", phrase)
        return self.word("kev-action", "original").format(text=phrase)

    def version_range(self, text: str) -> str:
        """A range in the notation of :attr:`VersionRange.text` in words: ``>=13.1|<13.1-49.13`` → "à partir
        de 13.1 et avant 13.1-49.13"."""
        if text == "*":
            return self.word("range", "*")
        shown = []
        for part in text.split("|"):
            operator = next((op for op in (">=", "<=", "=", ">", "<") if part.startswith(op)), "=")
            shown.append(self.word("range", operator).format(v=part[len(operator) :]))
        return self.word("range", "and").join(shown)


@functools.cache
def words(language: str) -> Words:
    """The words of ``language``, or of :data:`DEFAULT_LANGUAGE` when alertd has no catalog for it."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    return Words(language, read_catalog(language))


def rule_text(language: str, rule: SeverityRule) -> str:
    """The severity rule in ``language`` (``alertd poll --dry-run`` prints it in English)."""
    return words(language).rule(rule)
