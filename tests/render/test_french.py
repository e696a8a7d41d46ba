"""French written as French is written: typography, dates in words, the article before a name, CISA's English."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from paths import DATA, ROOT

from alertd.render.articles import fold
from alertd.render.catalog import Words, kev_phrase, read_catalog, words
from alertd.render.typography import NBSP, NNBSP, french

PARIS = ZoneInfo("Europe/Paris")
FR, EN = words("fr"), words("en")


# -- typography --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "typeset"),
    [
        ("Motif : valeur", f"Motif{NBSP}: valeur"),
        ("Motif: valeur", f"Motif{NBSP}: valeur"),  # a missing space is added
        (f"Motif{NBSP}: valeur", f"Motif{NBSP}: valeur"),  # never doubled
        (f"Motif{NNBSP}: valeur", f"Motif{NBSP}: valeur"),  # the wrong one replaced
        ("fin :", f"fin{NBSP}:"),
        ("« {asset} »", f"«{NBSP}{{asset}}{NBSP}»"),
        ("«{asset}»", f"«{NBSP}{{asset}}{NBSP}»"),
        ("a ; b ? c ! d", f"a{NNBSP}; b{NNBSP}? c{NNBSP}! d"),
        ("a; b? c!", f"a{NNBSP}; b{NNBSP}? c{NNBSP}!"),
        ("voir https://www.cert.ssi.gouv.fr/?a=1;b=2!x", "voir https://www.cert.ssi.gouv.fr/?a=1;b=2!x"),
        ("à 08:30 ou TLP:AMBER", "à 08:30 ou TLP:AMBER"),  # a time, a code: no punctuation
        ("(port {port}) : fermez-le", f"(port {{port}}){NBSP}: fermez-le"),
    ],
)
def test_french_typography(written: str, typeset: str) -> None:
    assert french(written) == typeset
    assert french(typeset) == typeset  # applying it twice changes nothing


def _prose_messages(language: str) -> list[tuple[str, str | tuple[str, str], int]]:
    """Each prose message as (context, id, n): a plural message once per form (n = 1 and n = 2)."""
    raw = {"typography", "date", "article-heads"}
    found: list[tuple[str, str | tuple[str, str], int]] = []
    for m in read_catalog(language):
        if not m.id or m.context in raw or not m.string:
            continue
        if isinstance(m.id, tuple | list):
            found += [(str(m.context), (str(m.id[0]), str(m.id[1])), n) for n in (1, 2)]
        else:
            found.append((str(m.context), str(m.id), 1))
    return found


def _read(words: Words, context: str, code: str | tuple[str, str], n: int) -> str:
    """A message as the emails read it: a plural one through npgettext, in its form for ``n``."""
    if isinstance(code, tuple):
        return str(words.translations.npgettext(context, code[0], code[1], n))
    return words.word(context, code)


@pytest.mark.parametrize(("context", "code", "n"), _prose_messages("fr"))
def test_every_french_message_is_read_with_french_typography(context: str, code: str | tuple[str, str], n: int) -> None:
    shown = _read(FR, context, code, n)
    # A clause-ending mark has its no-break space, and never a plain one, nor two.
    assert not re.search(r"(?<!\S)[:;?!](?=\s|$)", shown.replace(NBSP, "x").replace(NNBSP, "x")), shown
    for mark in (":", ";", "?", "!"):
        for found in re.finditer(rf"\{mark}(?=\s|$)", shown):
            before = shown[found.start() - 1]
            assert before == (NBSP if mark == ":" else NNBSP), (shown, mark)
    assert "« " not in shown and " »" not in shown and "  " not in shown
    assert shown.count("«") == shown.count(f"«{NBSP}") and shown.count("»") == shown.count(f"{NBSP}»")


@pytest.mark.parametrize(("context", "code", "n"), _prose_messages("en"))
def test_english_messages_are_read_as_written(context: str, code: str | tuple[str, str], n: int) -> None:
    message = read_catalog("en").get(code[0] if isinstance(code, tuple) else code, context=context)
    assert message is not None
    forms = message.string
    assert forms is not None
    written = forms[0 if n == 1 else 1] if isinstance(code, tuple) else forms
    assert _read(EN, context, code, n) == written


def test_values_filled_in_are_not_typeset() -> None:
    sentence = FR.reason("name-mention", asset="Hôpital : « test » ; ok ?", where="x")
    assert "Hôpital : « test » ; ok ?" in sentence  # the value as given
    assert sentence.startswith(f"Le nom ou l'alias de votre établissement «{NBSP}")


def test_the_jinja_catalog_has_the_typography_too() -> None:
    assert str(FR.translations.pgettext("bulletin", "highest")) == f"Niveau le plus élevé{NBSP}:"


def _h(hours: str, minutes: str) -> str:
    """A time as French writes it: "08 h 30", with no-break spaces."""
    return f"{hours}{NBSP}h{NBSP}{minutes}"


# -- dates --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "tz", "french_text", "english_text"),
    [
        (
            datetime(2022, 3, 24, 7, 30, tzinfo=UTC),
            PARIS,
            "24 mars 2022 à " + _h("08", "30") + " CET",
            "24 March 2022 at 08:30 CET",
        ),
        (
            datetime(2022, 7, 1, 7, 5, tzinfo=UTC),
            PARIS,
            "1er juillet 2022 à " + _h("09", "05") + " CEST",
            "1 July 2022 at 09:05 CEST",
        ),
        (
            datetime(2025, 12, 31, 23, 59),  # naive: taken as UTC
            ZoneInfo("UTC"),
            "31 décembre 2025 à " + _h("23", "59") + " UTC",
            "31 December 2025 at 23:59 UTC",
        ),
        (
            datetime(2024, 2, 13, 22, 0, tzinfo=UTC),
            PARIS,
            "13 février 2024 à " + _h("23", "00") + " CET",
            "13 February 2024 at 23:00 CET",
        ),
    ],
)
def test_a_moment_in_words(when: datetime, tz: ZoneInfo, french_text: str, english_text: str) -> None:
    assert FR.moment(when, tz) == french_text
    assert EN.moment(when, tz) == english_text


@pytest.mark.parametrize(
    ("day", "french_text", "english_text"),
    [
        (date(2023, 11, 8), "8 novembre 2023", "8 November 2023"),
        (date(2024, 3, 1), "1er mars 2024", "1 March 2024"),
        (date(2021, 8, 15), "15 août 2021", "15 August 2021"),
    ],
)
def test_a_day_in_words(day: date, french_text: str, english_text: str) -> None:
    assert FR.day(day) == french_text
    assert EN.day(day) == english_text


def test_the_date_patterns_are_in_the_catalogs_not_in_python() -> None:
    source = (ROOT / "alertd" / "render" / "catalog.py").read_text(encoding="utf-8")
    assert "MMMM" not in source and "strftime" not in source
    for language in ("fr", "en"):
        catalog = read_catalog(language)
        assert all(catalog.get(name, context="date") for name in ("day", "day:1", "moment", "moment:1"))


# -- articles -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "the", "of", "to"),
    [
        ("Centre Hospitalier Universitaire de Garonne", "le Centre", "du Centre", "au Centre"),
        ("Centre hospitalier de Dax", "le Centre", "du Centre", "au Centre"),
        ("Groupe hospitalier Paris Saint-Joseph", "le Groupe", "du Groupe", "au Groupe"),
        ("Institut Curie", "l'Institut", "de l'Institut", "à l'Institut"),
        ("Hôpital Foch", "l'Hôpital", "de l'Hôpital", "à l'Hôpital"),
        ("Hôtel-Dieu de Beaune", "l'Hôtel-Dieu", "de l'Hôtel-Dieu", "à l'Hôtel-Dieu"),
        ("Clinique Saint-Exupéry", "la Clinique", "de la Clinique", "à la Clinique"),
        ("Polyclinique du Parc", "la Polyclinique", "de la Polyclinique", "à la Polyclinique"),
        ("Maison de santé de Lure", "la Maison", "de la Maison", "à la Maison"),
        ("Fondation Rothschild", "la Fondation", "de la Fondation", "à la Fondation"),
        ("Hospices civils de Lyon", "les Hospices", "des Hospices", "aux Hospices"),
        ("Les Hospices civils de Lyon", "les Hospices", "des Hospices", "aux Hospices"),
        ("CHU de Rennes", "le CHU", "du CHU", "au CHU"),
        ("CH de Fleyriat", "le CH", "du CH", "au CH"),
        ("CHS Le Vinatier", "le CHS", "du CHS", "au CHS"),
        ("GHT Garonne", "le GHT", "du GHT", "au GHT"),
        ("EHPAD Les Opalines", "l'EHPAD", "de l'EHPAD", "à l'EHPAD"),
        ("AP-HP", "l'AP-HP", "de l'AP-HP", "à l'AP-HP"),
        ("Croix-Rouge française", "la Croix-Rouge", "de la Croix-Rouge", "à la Croix-Rouge"),
        ("Le Vinatier", "le Vinatier", "du Vinatier", "au Vinatier"),
        ("L'Hôpital privé d'Antony", "l'Hôpital", "de l'Hôpital", "à l'Hôpital"),
        ("Santé Atlantique", "Santé Atlantique", "de Santé Atlantique", "à Santé Atlantique"),
        ("Orpea Les Lilas", "Orpea", "d'Orpea", "à Orpea"),
    ],
)
def test_a_name_takes_the_article_of_its_head_noun(name: str, the: str, of: str, to: str) -> None:
    named = FR.establishment(name)
    assert named.name == name
    assert named.the.startswith(the) and named.of.startswith(of) and named.to.startswith(to)
    english = EN.establishment(name)
    assert english.the == english.of == english.to == name


def _finess_sample() -> list[dict[str, str]]:
    with (DATA / "finess" / "names_sample.csv").open(encoding="utf-8", newline="") as sample:
        return list(csv.DictReader(sample, delimiter=";"))


def test_real_finess_names_take_their_article() -> None:
    # About 275 real FINESS names (2021-01-08 extract), two for each head noun of the table, names that start with
    # their own article and names with none; the expected forms were read one by one.
    sample = _finess_sample()
    assert len(sample) >= 200
    wrong = []
    for row in sample:
        named = FR.establishment(row["rs"])
        if (named.the, named.of, named.to) != (row["the"], row["of"], row["to"]):
            wrong.append((row["rs"], named))
    assert wrong == []


def test_the_sample_covers_every_head_noun_that_finess_uses() -> None:
    heads = {
        fold(head)
        for klass in ("masculine", "feminine", "plural")
        for head in FR._raw("article-heads", f"heads:{klass}").split(", ")
    }
    covered = set()
    for row in _finess_sample():
        words_ = [fold(w) for w in row["rs"].split()]
        covered |= {" ".join(words_[:size]) for size in (1, 2, 3)}
    # Heads of the table that no establishment of the 2021 extract starts with (a registry may write them in full).
    absent = {"centre hospitalier universitaire", "centre hospitalier regional", "hotel-dieu", "sanatorium", "hospice"}
    absent |= {"cht", "ght", "croix-rouge", "assistance publique", "ap-hp", "ap-hm", "uhsa", "umd", "hospices"}
    absent |= {"cliniques", "etablt", "selurl", "seleurl", "eurl", "cpef", "cph", "cse", "saj", "semo"}
    assert heads - covered - absent == set()


# -- CISA's words -------------------------------------------------------------------------------------------------


def _required_actions() -> list[str]:
    found: list[str] = []
    for path in (
        ROOT / "config" / "feeds" / "known_exploited_vulnerabilities.json",
        DATA / "kev" / "kev_2026-08-07.json",
    ):
        found += [v["requiredAction"] for v in json.loads(path.read_text(encoding="utf-8"))["vulnerabilities"]]
    return found


def test_cisas_stock_phrases_are_in_french_and_any_other_is_quoted_as_english() -> None:
    actions = _required_actions()
    translated = [a for a in actions if FR.has("kev-action", kev_phrase(a))]
    # The stock phrases are nine entries in ten of the real catalogue.
    assert len(translated) / len(actions) > 0.9
    for action in set(actions):
        shown = FR.kev_action(action)
        if FR.has("kev-action", kev_phrase(action)):
            assert "vendor" not in shown and "Apply" not in shown, shown
        else:
            assert shown == f"«{NBSP}{kev_phrase(action)}{NBSP}» (texte original de la CISA, en anglais)"
        assert EN.kev_action(action) == kev_phrase(action)


@pytest.mark.parametrize(
    ("written", "french_text"),
    [
        ("Apply updates per vendor instructions.", "Appliquez les mises à jour selon les instructions de l'éditeur."),
        ("Apply updates per vendor instructions", "Appliquez les mises à jour selon les instructions de l'éditeur."),
        (
            '"Apply mitigations per vendor instructions, follow applicable BOD 22-01 guidance for cloud services, or '
            "discontinue use of the product if mitigations are unavailable.  ",
            "Appliquez les mesures de contournement indiquées par l'éditeur (pour un service cloud, celles de la "
            f"directive BOD 22-01 de la CISA){NNBSP}; à défaut, cessez d'utiliser le produit.",
        ),
        (
            "The impacted product is end-of-life and should be disconnected if still in use.",
            f"Le produit concerné n'est plus maintenu par son éditeur{NBSP}: "
            "déconnectez-le s'il est encore en service.",
        ),
    ],
)
def test_a_stock_phrase_reads_the_same_however_the_catalogue_punctuates_it(written: str, french_text: str) -> None:
    assert FR.kev_action(written) == french_text


def test_the_kev_step_says_cisa_asks_it() -> None:
    step = FR.action("kev.required-action").format(
        required_action=FR.kev_action("Apply updates per vendor instructions.")
    )
    assert step == f"Mesure demandée par la CISA{NBSP}: Appliquez les mises à jour selon les instructions de l'éditeur."


# -- wording ------------------------------------------------------------------------------------------------------


def test_no_calque_and_no_maliciel() -> None:
    everything = " ".join(str(m.string) for m in read_catalog("fr") if m.id).lower()
    assert "maliciel" not in everything and "pourquoi vous" not in everything
    assert FR.word("attr", "malware") == "Logiciel malveillant"
    assert FR.label("why") == "Motif"


def test_severity_labels_are_masculine_and_never_agree_with_gravite() -> None:
    labels = [FR.word("severity", s) for s in ("imminent", "critical", "high", "info")]
    assert labels == ["IMMINENT", "CRITIQUE", "ÉLEVÉ", "INFO"]  # "niveau ÉLEVÉ", not "ÉLEVÉE"
    for message in read_catalog("fr"):
        text = str(message.string)
        assert "abaissée" not in text and "gravité la plus" not in text.lower()
