"""Names as people write them, and evidence, not coincidence: the cases of issue #14 on small registries written
as FINESS has them (short names, category codes, communes, legal entities)."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from builders import make_feed_spec
from hypothesis import given
from hypothesis import strategies as st

from alertd.domain.codes import MatchReason, NameForm, NameRuling
from alertd.domain.establishments import Establishment, Finess, Registry
from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, IndicatorType, Observation
from alertd.intake.formats import leaks
from alertd.match.index import MatchIndex
from alertd.match.name_evidence import NameMatcher
from alertd.match.name_forms import core_tokens, name_key, name_keys_of, text_tokens


def est(
    est_id: str,
    name: str,
    category: str = "",
    city: str = "",
    ej: str = "",
    *,
    closed: str = "",
    **kw: object,
) -> Establishment:
    finess = Finess(est_id, ej=ej, department=est_id[:2], closed=closed)
    return Establishment(id=est_id, name=name, category=category, city=city, finess=finess, **kw)  # type: ignore[arg-type]


def matcher(*ests: Establishment) -> NameMatcher:
    return NameMatcher(Registry(MappingProxyType({e.id: e for e in ests}), ()))


def found(m: NameMatcher, text: str, country: str = "") -> list[str]:
    return [c.establishment for c in m.matched(text, country)]


def rulings(m: NameMatcher, text: str, country: str = "") -> dict[str, NameRuling]:
    return {c.establishment: c.ruling for c in m.find(text, country)}


ARLES = matcher(
    est("130002827", "CH JOSEPH IMBERT D'ARLES", "355", "ARLES", "130789274"),
    est("130797020", "HOPITAL DE JOUR L'ORANGER SECT 13I11", "355", "ARLES", "130789274"),
    est("130808447", "HOPITAL DE JOUR LACROIX SECT 13G27", "355", "ARLES", "130789274"),
    est("130803661", "USMP CENTRE DETENTION CH ARLES", "355", "TARASCON", "130789274"),
    est("130001258", "HOPITAUX PORTES DE CAMARGUE TARASCON", "106", "TARASCON", "130028228"),
    est("660000001", "CLINIQUE DU VALLESPIR", "128", "ARLES SUR TECH", "660000000"),
    est("590000758", "CH ARMENTIERES", "355", "ARMENTIERES", "590782637"),
    est("590000782", "EPSM LILLE METROPOLE", "292", "ARMENTIERES", "590782660"),
    est("290001015", "CENTRE HOSPITALIER ST RENAN", "106", "ST RENAN", "290000751"),
    est("010000024", "CH DE FLEYRIAT", "355", "VIRIAT", "010780054"),
    est("010009314", "SSR HOTEL DIEU DE FLEYRIAT", "355", "BOURG EN BRESSE", "010780054"),
    est("350000741", "CHRU RENNES SITE PONTCHAILLOU", "101", "RENNES", "350005179"),
    est("350007084", "CHRU RENNES SITE HOPITAL SUD", "101", "RENNES", "350005179"),
    est("880000054", "CHI L'OUEST VOSGIEN SITE NEUFCHATEAU", "355", "NEUFCHATEAU", "880007299"),
    est("880000070", "CHI DE L'OUEST VOSGIEN SITE DE VITTEL", "355", "VITTEL", "880007299"),
    est("290000058", "CHRU BREST SITE HOPITAL MORVAN", "101", "BREST", "290000017"),
    est("400000105", "CENTRE HOSPITALIER DAX", "355", "DAX", "400780193"),
)


@pytest.mark.parametrize(
    ("text", "establishment"),
    [
        ("Centre Hospitalier D'Arles", "130002827"),  # the category and the commune: not the day hospitals
        ("CH Arles", "130002827"),
        ("Hôpital d'Arles", "130002827"),
        ("CENTRE HOSPITALIER D ARLES", "130002827"),
        ("C.H. d'Arles", "130002827"),
        ("Hôpital Joseph Imbert", "130002827"),  # the category and the name's own words
        ("Centre hospitalier de Tarascon", "130001258"),  # the hospital of Tarascon, not the CH d'Arles' unit there
        ("Centre hospitalier d\u2019Armentières", "590000758"),  # not the EPSM, also in Armentières
        ("Centre hospitalier de Saint-Renan", "290001015"),  # FINESS: ST RENAN
        ("CH de St-Renan", "290001015"),
        ("Centre hospitalier de Bourg-en-Bresse", "010000024"),  # the legal entity's head, in Viriat
        ("CHU de Rennes", "350000741"),
        ("C.H.U. de Rennes", "350000741"),  # dotted initials
        ("Centre Hospitalier Universitaire de Rennes", "350000741"),
        ("Rennes University Hospital", "350000741"),
        ("Centre hospitalier de l'Ouest Vosgien", "880000054"),  # one legal entity's two sites: the first
    ],
)
def test_names_as_people_write_them(text: str, establishment: str) -> None:
    assert found(ARLES, text) == [establishment]


@pytest.mark.parametrize(
    "text",
    [
        "Centre Hospitalier d'Arles-sur-Tech",  # the commune runs on: another commune
        "Charles Hospital",
        "Arles",  # a commune alone names no hospital
        "Hôpital de jour",
    ],
)
def test_no_hospital_named(text: str) -> None:
    assert found(ARLES, text) == []


def test_a_category_and_commune_form_goes_to_one_establishment() -> None:
    forms = {f.name for f in ARLES.forms_of("130002827") if f.kind is NameForm.CATEGORY_COMMUNE}
    # "ch tarascon" is the Tarascon hospital's, not its unit's; English press writes "Arles Hospital"
    assert forms == {"ch arles", "hopital arles", "hospital arles", "arles hospital"}
    assert "ch tarascon" in {f.name for f in ARLES.forms_of("130001258")}
    for unit in ("130797020", "130808447", "130803661", "010009314"):
        assert [f for f in ARLES.forms_of(unit) if f.kind is NameForm.CATEGORY_COMMUNE] == []


# -- evidence, not coincidence ---------------------------------------------------------------------------------

TRAPS = matcher(
    est("930021753", "FEDERATION", "460", "MONTREUIL"),
    est("300016011", "PHOENIX", "460", "RODILHAN"),
    est("300781317", "LA PROVIDENCE", "500", "NIMES"),
    est("170013080", "PHARMACIE SAINT LOUIS", "620", "LA ROCHELLE"),
    est("170013081", "SAINT LOUIS", "620", "SAINTES"),
    est("930027867", "SIMONE VEIL", "219", "EPINAY SUR SEINE"),
    est("060000544", "CH DE CANNES SIMONE VEIL", "355", "CANNES", "060780988"),
    est("410000020", "CH BLOIS SIMONE VEIL", "355", "BLOIS", "410000087"),
    est("750000001", "HOPITAL SAINT JOSEPH", "365", "PARIS", "750000000"),
    est("690000001", "CLINIQUE DU PARC", "128", "LYON", "690000000"),
    est("440000800", "CLINIQUE DU PARC", "128", "NANTES", "440000000"),
    est("340000001", "PHARMACIE DU LEZ", "620", "CASTELNAU LE LEZ"),
    est("590000001", "CH DU VAL DE LYS", "355", "ESTAIRES", "590000000"),
    est("590000002", "CH DU VAL DE LYS NORD", "355", "HAZEBROUCK", "590000003"),
)


@pytest.mark.parametrize(
    ("text", "ruled_out", "why"),
    [
        ("Fédération Française de Rugby", "930021753", NameRuling.WEAK),
        ("Mossbourne Federation", "930021753", NameRuling.WEAK),
        ("PHOENIX.TECH", "300016011", NameRuling.WEAK),
        ("la providence", "300781317", NameRuling.WEAK),
        ("REJIS, St. Louis County", "170013081", NameRuling.WEAK),
        ("Hôpital Simone Veil à Cannes", "930027867", NameRuling.CONTAINED),
        ("Hôpital Simone Veil à Cannes", "410000020", NameRuling.OTHER_ESTABLISHMENT),
        ("Hôpital Saint-Joseph de Beyrouth", "750000001", NameRuling.OTHER_PLACE),
        ("Hôpital Saint-Joseph (Bruxelles)", "750000001", NameRuling.OTHER_PLACE),
        ("Clinique du Parc de Castelnau-le-Lez", "690000001", NameRuling.AMBIGUOUS),
        ("CH du Val de Lys Nord", "590000001", NameRuling.CONTAINED),
    ],
)
def test_evidence_not_coincidence(text: str, ruled_out: str, why: NameRuling) -> None:
    assert rulings(TRAPS, text).get(ruled_out) is why
    assert ruled_out not in found(TRAPS, text)


@pytest.mark.parametrize(
    ("text", "establishment"),
    [
        ("Hôpital Simone Veil à Cannes", "060000544"),  # the longest name, and the commune next to it
        ("CH du Val de Lys Nord", "590000002"),  # the longest registered name wins
        ("Clinique La Providence, Nîmes", "300781317"),  # a weak name with its commune
        ("EHPAD La Providence", "300781317"),  # a weak name next to a category word
        ("Clinique du Parc (Lyon)", "690000001"),  # a shared name, told apart by the commune
        ("Hôpital Saint-Joseph de Paris", "750000001"),  # the establishment's own commune after the name
        ("Hôpital Saint-Joseph de Paris (France)", "750000001"),  # its own country
        ("CH du Val de Lys Nord (France)", "590000002"),
    ],
)
def test_the_evidence_that_counts(text: str, establishment: str) -> None:
    assert found(TRAPS, text) == [establishment]


def test_the_posts_country_must_be_the_establishments() -> None:
    assert found(TRAPS, "Hôpital Simone Veil à Cannes", "FR") == ["060000544"]
    assert rulings(TRAPS, "Hôpital Simone Veil à Cannes", "US")["060000544"] is NameRuling.OTHER_COUNTRY


def test_closed_establishments_are_not_looked_for() -> None:
    m = matcher(est("590000758", "CH ARMENTIERES", "355", "ARMENTIERES", closed="2024-01-01"))
    assert m.find("CH Armentières") == []


# -- the review's findings: a name's own words never place it, weak names need words of their kind ------------

SAINTS = matcher(
    est("970400180", "CHU SITE SUD (SAINT JOSEPH)", "101", "ST JOSEPH", "970408589"),
    est("970400081", "CHU SITE SUD (SAINT LOUIS)", "101", "ST LOUIS", "970408589"),
    est("970400057", "CHU SITE SUD (SAINT PIERRE)", "101", "ST PIERRE", "970408589"),
    est("970406245", "CLINIQUE DE SAINT JOSEPH", "109", "ST JOSEPH", "970406237"),
    est("970400065", "CH OUEST REUNION", "355", "ST PAUL", "970400008"),
    est("970100400", "C.H. LOUIS CONSTANT FLEMING", "355", "ST MARTIN", "970100228"),
    est("310780283", "CL DE L'UNION", "365", "ST JEAN", "310780275"),
    est("130785652", "HOPITAL SAINT JOSEPH", "365", "MARSEILLE", "130014228"),
    est("490000262", "CLINIQUE SAINT JOSEPH", "365", "TRELAZE", "490000254"),
    est("970202313", "CLINIQUE SAINT PAUL", "365", "FORT DE FRANCE", "970202305"),
    est("700780174", "CLINIQUE ST MARTIN", "128", "VESOUL", "700780166"),
    est("780300208", "CLINIQUE SAINT LOUIS", "365", "POISSY", "780300190"),
    est("550003362", "CH VERDUN/ST MIHIEL - HOP DESANDROUINS", "355", "VERDUN", "550000020"),
    est("750000002", "PHARMACIE DU QUEBEC", "620", "PARIS"),
)


@pytest.mark.parametrize(
    "text",
    [
        "Hôpital Saint-Joseph",  # not Réunion's CHU site in Saint-Joseph: the name's own words are no place
        "Hôpital Saint-Louis",
        "Clinique Saint-Joseph",
        "Liège: Clinique Saint-Joseph",
        "Hôpital Saint-Paul",
        "Hôpital Saint-Martin",
        "Hôpital Saint-Jean",
        "Clinique Saint-Paul",  # a clinic and a saint: a dozen of them
        "Clinique Saint-Martin",
        "Clinique Saint-Louis",
        "CHU Saint-Pierre Bruxelles",
        "Belgique : le CHU Saint-Pierre touché par une cyberattaque",  # a foreign place anywhere in a title
        "Brussels hospital CHU Saint-Pierre hit by ransomware",
        "Montréal : l'Hôpital de Verdun victime d'une cyberattaque",
        "Québec - Hôpital de Verdun",
    ],
)
def test_a_saint_or_a_foreign_title_names_no_one(text: str) -> None:
    assert found(SAINTS, text) == []


@pytest.mark.parametrize(
    ("text", "establishment"),
    [
        ("Clinique Saint-Joseph de Trélazé", "490000262"),  # its commune, outside the name
        ("Hôpital Saint-Joseph, Marseille", "130785652"),
        ("Hôpital de Saint-Paul", "970400065"),  # "de": the saint is the commune's
        ("Hôpital de Verdun", "550003362"),
        ("Montréal : l'Hôpital de Verdun (Meuse)", "550003362"),  # its own département written too
        ("Pharmacie du Québec", "750000002"),  # a foreign place in its own name is none
    ],
)
def test_a_saint_with_its_place(text: str, establishment: str) -> None:
    assert found(SAINTS, text) == [establishment]


def test_no_place_written_the_registered_name_is_chosen_and_says_so() -> None:
    mentions = {m.establishment: m for m in SAINTS.find("Hôpital Saint-Joseph")}
    reunion, marseille = mentions["970400180"], mentions["130785652"]
    assert (reunion.ruling, reunion.other, reunion.placed) == (NameRuling.OTHER_ESTABLISHMENT, "130785652", False)
    assert marseille.ruling is NameRuling.WEAK  # its place is not written either


def test_a_clinic_gets_no_hospital_forms() -> None:
    forms = {f.name for f in SAINTS.forms_of("490000262")}
    assert not any(name.startswith(("hopital", "ch ")) for name in forms), forms


TOWNS = matcher(
    est("600008817", "PONTPOINT", "500", "PONTPOINT"),
    est("780025433", "LOUVECIENNES", "219", "LOUVECIENNES"),
    est("940024904", "IVRY SUR SEINE", "219", "IVRY SUR SEINE"),
    est("910023290", "PARAY VIEILLE POSTE", "219", "PARAY VIEILLE POSTE"),
    est("930029418", "LE PRE SAINT GERVAIS", "219", "LE PRE ST GERVAIS"),
)


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("Mairie de Pontpoint", "FR"),
        ("Commune de Pontpoint, Oise", "FR"),
        ("Mairie de Louveciennes", "FR"),
        ("Mairie d'Ivry-sur-Seine", ""),
        ("Ville d'Ivry-sur-Seine", ""),
        ("Paray-Vieille-Poste", ""),
        ("Le Pré-Saint-Gervais", ""),
    ],
)
def test_a_town_hall_is_no_establishment_named_after_its_commune(text: str, country: str) -> None:
    assert found(TOWNS, text, country) == []


def test_a_communes_name_counts_with_a_word_of_its_kind() -> None:
    assert found(TOWNS, "EHPAD de Pontpoint") == ["600008817"]
    assert found(TOWNS, "Hôpital de Pontpoint") == []  # an EHPAD, not a hospital


KINDS = matcher(
    est("750059701", "NECKER", "219", "PARIS", "750721334"),
    est("750100208", "HU NECKER ENFANTS MALADES APHP", "101", "PARIS", "750712184"),
    est("750100125", "HU PITIE SALPETRIERE APHP", "101", "PARIS", "750712184"),
    est("310787361", "ERASME", "330", "TOULOUSE", "310001631"),
    est("170013080", "SAINT LOUIS", "620", "ROCHEFORT", "170013072"),
    est("130043664", "HOPITAL EUROPEEN", "365", "MARSEILLE", "130002157"),
    est("130780521", "APHM HOPITAL NORD", "101", "MARSEILLE", "130786049"),
    est("130783293", "APHM HOPITAL LA TIMONE", "101", "MARSEILLE", "130786049"),
    est("940000664", "CLCC INSTITUT GUSTAVE ROUSSY", "131", "VILLEJUIF", "940000649"),
    est("690783154", "HOPITAL EDOUARD HERRIOT - HCL", "101", "LYON", "690781810"),
)


@pytest.mark.parametrize(
    "text",
    [
        "Hôpital Erasme",  # a school of social work: "Hôpital" is not a word of its kind
        "ERASME HOSPITAL",
        "Erasme Hospital (Brussels)",
        "Saint Louis Hospital",  # a pharmacy
        "Saint-Louis Hospital Senegal",
        "Hôpital Européen Georges-Pompidou",  # runs on into another name: not the one in Marseille
        "Hôpital Européen Georges Pompidou (AP-HP)",
    ],
)
def test_a_weak_name_needs_a_word_of_its_own_kind(text: str) -> None:
    assert found(KINDS, text) == []


@pytest.mark.parametrize(
    ("text", "establishment"),
    [
        ("Hôpital Necker-Enfants malades", "750100208"),  # not the reception centre NECKER
        ("Hôpital Necker Enfants Malades APHP", "750100208"),
        ("Hôpital Pitié-Salpêtrière AP-HP", "750100125"),  # HU and the entity tag left out
        ("Pitié Salpêtrière APHP", "750100125"),
        ("Institut Gustave Roussy", "940000664"),
        ("Hôpital Édouard-Herriot", "690783154"),
        ("Hôpital de la Timone", "130783293"),
        ("Pharmacie Saint-Louis", "170013080"),  # a word of its kind
        ("Hôpital Européen de Marseille", "130043664"),
        ("Assistance Publique – Hôpitaux de Marseille", "130780521"),  # a CHU site before a private ESPIC
    ],
)
def test_names_of_the_big_hospitals(text: str, establishment: str) -> None:
    assert found(KINDS, text) == [establishment]


def test_a_name_running_on_into_capitalised_words_is_another_name() -> None:
    (mention,) = KINDS.find("Hôpital Européen Georges-Pompidou")
    assert (mention.establishment, mention.ruling, mention.place) == (
        "130043664",
        NameRuling.LONGER_NAME,
        "Georges-Pompidou",
    )


@pytest.mark.parametrize(
    ("text", "establishment"),
    [
        ("Centre hospitalier d'Arles (Bouches-du-Rhône)", "130002827"),  # its own département
        ("Centre hospitalier de Dax (Landes)", "400000105"),
        ("Hôpital d'Armentières (Nord)", "590000758"),
        ("CHU de Rennes (Ille-et-Vilaine)", "350000741"),
        ("CHU de Brest en Bretagne", "290000058"),  # its own region
        ("Arles Hospital", "130002827"),  # English press
        ("Arles hospital hit by ransomware", "130002827"),
        ("Hospital of Arles", "130002827"),
        ("Armentières hospital", "590000758"),
        ("Dax hospital", "400000105"),
    ],
)
def test_its_departement_and_region_place_it(text: str, establishment: str) -> None:
    assert found(ARLES, text) == [establishment]


@pytest.mark.parametrize("text", ["Centre hospitalier d'Arles (Gard)", "CENTRE HOSPITALIER D'ARLES (GARD)"])
def test_another_departement_is_another_place(text: str) -> None:
    assert rulings(ARLES, text)["130002827"] is NameRuling.OTHER_PLACE


# -- acronyms ----------------------------------------------------------------------------------------------------

ACRONYMS = matcher(
    est("910000314", "CH SUD FRANCILIEN", "355", "CORBEIL ESSONNES", acronyms=("CHSF",)),
    est("750803447", "HOPITAL EUROPEEN GEORGES POMPIDOU", "101", "PARIS", acronyms=("HEGP",)),
)


@pytest.mark.parametrize(
    ("text", "ruling"),
    [
        ("Cyberattaque à l'hôpital CHSF", NameRuling.MATCHED),  # a hospital word near it
        ("CHSF (Corbeil-Essonnes)", NameRuling.MATCHED),  # its commune near it
        ("Le centre hospitalier CHSF", NameRuling.MATCHED),
        ("HEGP : les urgences perturbées à l'hôpital", NameRuling.MATCHED),
        ("CHSF", NameRuling.NO_CONTEXT),  # nothing says a hospital is meant
        ("chsf hôpital", None),  # not in upper case
        ("CHSFX hôpital", None),  # not a whole word
    ],
)
def test_a_declared_acronym_in_upper_case_with_context(text: str, ruling: NameRuling | None) -> None:
    assert {c.ruling for c in ACRONYMS.find(text)} == ({ruling} if ruling else set())


# -- through the match index: the indicator, the post's country, a post that is only a domain --------------------


def _index(*ests: Establishment) -> MatchIndex:
    return MatchIndex(Registry(MappingProxyType({e.id: e for e in ests}), ()), benign=None)


def test_a_derived_form_is_shown_as_the_text_writes_it() -> None:
    index = _index(est("130002827", "CH JOSEPH IMBERT D'ARLES", "355", "ARLES CEDEX", "130789274"))
    obs = Observation("leaks", "e", FeedKind.LEAK, "t", text="Centre Hospitalier D'Arles")
    (finding,) = index.match([obs]).findings
    assert (finding.establishment, finding.indicator.value, finding.asset, finding.reason) == (
        "130002827",
        "Centre Hospitalier D'Arles",
        "CH JOSEPH IMBERT D'ARLES",
        MatchReason.NAME_MENTION,
    )


def test_the_country_fact_reaches_the_matcher() -> None:
    index = _index(est("060000544", "CH DE CANNES SIMONE VEIL", "355", "CANNES"))
    abroad, here = Facts(country_code="US"), Facts(country_code="FR")
    posts = [
        Observation("press", "us", FeedKind.ADVISORY, "t", text="Hôpital Simone Veil", facts=abroad),
        Observation("press", "fr", FeedKind.ADVISORY, "t", text="Hôpital Simone Veil", facts=here),
    ]
    assert [f.entry for f in index.match(posts).findings] == ["fr"]


def test_a_post_that_is_only_a_domain_is_matched_as_a_domain() -> None:
    index = _index(est("910000314", "CH SUD FRANCILIEN", "355", "CORBEIL ESSONNES", domains=("ch-sf.fr",)))
    body = b'[{"post_title": "ch-sf.fr (old)", "group_name": "a"}, {"post_title": "ch-sf.fr", "group_name": "b"}]'
    posts = leaks.parse(make_feed_spec("leaks", FeedFormat.LEAK_VICTIMS), body)
    findings = index.match(posts).findings
    assert [(f.establishment, f.reason, f.indicator.type) for f in findings] == [
        ("910000314", MatchReason.DOMAIN, IndicatorType.DOMAIN)
    ] * 2


# -- the normal form -------------------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    ["CH", "Centre", "hospitalier", "C.H.U.", "de", "d'", "St", "Ste", "Hôpital", "jour", "CTRE", "HOSP", "Arles"]
)


@given(st.lists(_WORDS, max_size=8).map(" ".join))
def test_a_name_and_a_text_reduce_to_the_same_words(name: str) -> None:
    key = tuple(t.word for t in core_tokens(text_tokens(name)))
    assert name_key(name) == key
    assert name_keys_of([name, name]) == [key, key]
