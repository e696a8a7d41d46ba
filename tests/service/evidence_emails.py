"""Reading the vulnerability alerts of a delivered email as a person does, and checking what each says of the
version against what the sources published (issue #11: no email states that a version is affected without a
published range that contains it).

An alert is read from the email's text part and again from its HTML part, row by row (label, value). Each is
tied to the alert the store says the email carried (``Store.history``: the finding and its version fact), and the
fact is checked against the store's knowledge: the source it names published that range (or fix) for the
product, and :func:`alertd.match.versions.contains` puts the declared version inside it.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from html.parser import HTMLParser
from pathlib import Path

from builders import unflow

from alertd.domain.codes import Evidence
from alertd.domain.facts import VersionFact
from alertd.domain.knowledge import Knowledge
from alertd.domain.values import Alert, ProductStatus, VersionRange
from alertd.match.versions import contains

# The row labels and words of the two languages (templates and catalogs of alertd/render).
LABELS = {
    "fr": {"cve": "Vulnérabilité", "version": "Version (inventaire)", "why": "Motif", "feed": "Flux"},
    "en": {"cve": "Vulnerability", "version": "Version (inventory)", "why": "Reason", "feed": "Feed"},
}
AFFECTED_WORDS = {"fr": "(concernée :", "en": "(affected:"}
UNVERIFIED_WORDS = {"fr": "non vérifiée :", "en": "not checked:"}
UNKNOWN_VERSION = ("non déclarée", "not declared")  # the version row of an item declared without a version
AFFECTS = {"fr": "affecte ", "en": "affects "}


@dataclass(frozen=True, slots=True)
class Shown:
    """One alert as an email shows it: its rows, label → value."""

    part: str  # "text" or "html"
    rows: dict[str, str]


def read_maildir(maildir: Path) -> list[EmailMessage]:
    """Every email delivered into a Maildir, oldest first."""
    messages = []
    for file in sorted((maildir / "new").iterdir(), key=lambda f: f.stat().st_mtime_ns):
        msg = email.message_from_bytes(file.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        messages.append(msg)
    return messages


def language(msg: EmailMessage) -> str:
    """The email's language, as its text says it."""
    return "fr" if "Bonjour" in text_part(msg) else "en"


def text_part(msg: EmailMessage) -> str:
    """The plain-text part."""
    part = msg.get_body(("plain",))
    assert part is not None
    text = str(part.get_content())
    return unflow(text) if part.get_param("format") == "flowed" else text  # as a flowed-aware reader joins it


def html_part(msg: EmailMessage) -> str:
    """The HTML part."""
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


_ROW = re.compile(r"^(\S.*?)[ \u00a0]*: (.+)$")  # "Label : value" (French: a no-break space before ":")
_BLOCK = re.compile(r"^=== \d+/\d+ — ")
_LINE = re.compile(r"^  - (\S+) — ")  # a line of a block's table: the indicator first


def _each(rows: dict[str, str], lines: list[str], cve_label: str, part: str) -> list[Shown]:
    """A block as one shown alert per CVE: a block of one alert, or each line of its table with its rows."""
    if cve_label in rows or not lines:
        return [Shown(part, rows)]
    return [Shown(part, {**rows, cve_label: cve}) for cve in lines]


def text_alerts(text: str, lang: str = "en") -> list[Shown]:
    """The alerts of a text part: each block's rows (and its table's lines), up to the corrections and the
    signature."""
    blocks: list[tuple[dict[str, str], list[str]]] = []
    current: tuple[dict[str, str], list[str]] | None = None
    for line in text.splitlines():
        if _BLOCK.match(line):
            current = ({}, [])
            blocks.append(current)
        elif line.startswith("=== ") or line.rstrip() == "--":
            current = None
        elif current is not None and (item := _LINE.match(line)):
            current[1].append(item.group(1))
        elif current is not None and (row := _ROW.match(line)):
            current[0].setdefault(row.group(1).strip(), " ".join(row.group(2).split()))  # no-break spaces as spaces
    return [shown for rows, lines in blocks for shown in _each(rows, lines, LABELS[lang]["cve"], "text")]


class _Cells(HTMLParser):
    """Each alert block's label/value pairs and its table's cells (by column), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[dict[str, str], list[dict[str, str]]]] = []
        self._in: str | None = None
        self._depth = 0
        self._text: list[str] = []
        self._label: str | None = None
        self._header: list[str] = []
        self._row_header: list[str] = []
        self._cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        classes = (given.get("class") or "").split()
        if tag == "table" and "alert" in classes:
            self.blocks.append(({}, []))
        elif self._in is not None:
            self._depth += tag == "span"
        elif tag == "span" and ("label" in classes or "value" in classes):
            self._in, self._depth, self._text = ("label" if "label" in classes else "value"), 0, []
        elif tag in ("th", "td") and ("th" in classes or "td" in classes) and self.blocks:
            self._in, self._depth, self._text = tag, 0, []
        elif tag == "tr":
            self._cells, self._row_header = [], []

    def handle_endtag(self, tag: str) -> None:
        if self._in is None:
            if tag == "tr" and self._row_header:
                self._header = self._row_header
            elif tag == "tr" and self._cells and self.blocks:
                self.blocks[-1][1].append(dict(zip(self._header, self._cells, strict=False)))
                self._cells = []  # the enclosing rows end too: the line is read once
            return
        if tag == "span" and self._depth:
            self._depth -= 1
            return
        if tag not in ("span", "th", "td"):
            return
        text = " ".join("".join(self._text).split())
        if self._in == "label":
            self._label = text
        elif self._in == "value" and self._label is not None and self.blocks:
            self.blocks[-1][0].setdefault(self._label, text)
            self._label = None
        elif self._in == "th":
            self._row_header.append(text)
        elif self._in == "td":
            self._cells.append(text)
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)


def html_alerts(html: str, lang: str) -> list[Shown]:
    """The alerts of an HTML part: each block's label/value pairs, and one alert per line of its table."""
    parser = _Cells()
    parser.feed(html)
    cve = LABELS[lang]["cve"]
    return [
        shown
        for rows, lines in parser.blocks
        for shown in _each(rows, [line[cve] for line in lines if line.get(cve)], cve, "html")
    ]


def shown_alerts(msg: EmailMessage) -> list[Shown]:
    """The vulnerability alerts of an email, from its text part, then from its HTML part."""
    lang = language(msg)
    cve = LABELS[lang]["cve"]
    both = text_alerts(text_part(msg), lang) + html_alerts(html_part(msg), lang)
    return [s for s in both if cve in s.rows]


def alert_of(shown: Shown, alerts: list[Alert], lang: str) -> Alert:
    """The alert the store says the email carried for this shown one: same CVE, feed and declared version."""
    labels = LABELS[lang]
    cve = shown.rows[labels["cve"]].split()[0]
    feed = shown.rows[labels["feed"]]
    version = shown.rows.get(labels["version"], "")
    candidates = [
        a
        for a in alerts
        if a.finding.indicator.value == cve
        and a.finding.feed == feed
        and a.finding.facts.version is not None
        and a.finding.facts.version.declared == declared(version)
    ]
    assert len(candidates) == 1, (shown, [a.finding.asset for a in alerts if a.finding.indicator.value == cve])
    return candidates[0]


def declared(version_row: str) -> str | None:
    """The declared version a version row shows; None when it shows the "version unknown" words."""
    if version_row.startswith(UNKNOWN_VERSION):
        return None
    # Render defangs a version that looks like a host name (a Red Hat build): read back as declared.
    return version_row.split(" (")[0].replace("[.]", ".")


def published(fact: VersionFact, knowledge: Knowledge, cve: str) -> bool:
    """Whether the source the fact names published, for this CVE, the range (or fix) the fact rests on."""
    assert fact.range is not None and fact.source is not None
    for statement in knowledge.get(cve, ()):
        if statement.source != fact.source:
            continue
        for product in statement.products:
            if product.status is ProductStatus.AFFECTED:
                if fact.range == VersionRange().text and not product.versions:
                    return True
                if any(r.text == fact.range for r in product.versions):
                    return True
            elif (
                product.status is ProductStatus.FIXED
                and fact.range.startswith("<")
                and any(r.exact == fact.range[1:] for r in product.versions)
            ):
                return True
    return False


def check_email(msg: EmailMessage, alerts: list[Alert], knowledge: Knowledge) -> dict[str, int]:
    """Assert what each vulnerability alert of an email says of the version; count them by evidence."""
    lang = language(msg)
    labels = LABELS[lang]
    counts: dict[str, int] = {}
    for shown in shown_alerts(msg):
        alert = alert_of(shown, alerts, lang)
        fact = alert.finding.facts.version
        assert fact is not None
        version_row = shown.rows[labels["version"]]
        why = shown.rows[labels["why"]]
        cve = alert.finding.indicator.value
        where = (msg["To"], shown.part, cve, alert.finding.asset, alert.finding.feed)
        counts[fact.evidence.value] = counts.get(fact.evidence.value, 0) + 1
        if AFFECTED_WORDS[lang] in version_row:
            # The email says the version is affected: a published range must contain it.
            assert fact.evidence is Evidence.AFFECTED, where
            assert fact.declared is not None and fact.range is not None, where
            assert published(fact, knowledge, cve), (where, fact)
            assert contains(fact.declared, VersionRange.from_text(fact.range)) is True, (where, fact)
            assert AFFECTS[lang] + alert.finding.asset in why, (where, why)
        else:
            # Not checked: said plainly, and the reason never says "affects <version>".
            assert fact.evidence is Evidence.UNVERIFIED, (where, fact)
            assert UNVERIFIED_WORDS[lang] in version_row or declared(version_row) is None, (where, version_row)
            assert AFFECTS[lang] not in why, (where, why)
            if fact.declared is not None:
                assert fact.declared not in why, (where, why)
    return counts


__all__ = [
    "Shown",
    "check_email",
    "declared",
    "html_alerts",
    "html_part",
    "language",
    "read_maildir",
    "shown_alerts",
    "text_alerts",
    "text_part",
]
