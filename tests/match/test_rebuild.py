"""An index built at a reload from the one before it (its unchanged parts serving again) answers exactly as an
index built from scratch from the same registry: after every kind of edit — an establishment's networks,
domains, AS numbers, software or names changed, one added or removed, a file removed or added — on random
registries, asked many indicators, products and texts."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
from collections.abc import Iterable
from types import MappingProxyType

import pytest
from finess_registry import finess_registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import SHARED

from alertd.domain.establishments import Establishment, Finess, Registry, Software
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, ProductStatus
from alertd.match.benign import Allowlist, BenignLists
from alertd.match.index import MatchIndex
from alertd.match.name_evidence import NameMatcher

T = IndicatorType
NETS = ["52.16.0.0/16", "52.16.4.0/24", "147.210.8.0/22", "147.210.8.9/32", "2001:660:10::/48", "2001:660::/32"]
DOMAINS = ["chu-a.fr", "mail.chu-a.fr", "clinique-b.example", "ght.fr", "cloud.example"]
SOFTWARE = [
    Software("Citrix", "NetScaler ADC", "13.1-49.13"),
    Software("Fortinet", "FortiOS", "7.2.4"),
    Software("Microsoft", "Exchange Server", None),
    Software("Ivanti", "Connect Secure", "22.7R2.4"),
]
NAMES = [
    "Centre Hospitalier de Lannion",
    "Clinique Saint-Joseph",
    "Hôpital Nord",
    "CHU de Bordeaux",
    "Groupe Hospitalier Sud",
]
TOWNS = ["LANNION", "BORDEAUX", "ARLES", ""]
BENIGN = BenignLists.from_entries(networks=[("52.16.4.0/24", "warninglist:cloud")], domains=[("cloud.example", "top")])
ALLOW = Allowlist.from_entries([("147.210.8.9/32", "ops"), ("ght.fr", "ops")])


@st.composite
def establishments(draw: st.DrawFn, n: int) -> Establishment:
    return Establishment(
        id=f"e{n}",
        name=draw(st.sampled_from(NAMES)) + f" {n % 3}" * draw(st.booleans()),
        aliases=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=1))),
        networks=tuple(ipaddress.ip_network(x) for x in draw(st.lists(st.sampled_from(NETS), max_size=2, unique=True))),
        asns=tuple(draw(st.lists(st.sampled_from([2200, 64512]), max_size=1))),
        domains=tuple(draw(st.lists(st.sampled_from(DOMAINS), max_size=2, unique=True))),
        software=tuple(draw(st.lists(st.sampled_from(SOFTWARE), max_size=2, unique=True))),
        city=draw(st.sampled_from(TOWNS)),
        category=draw(st.sampled_from(["355", "", "128"])),
    )


EDITS = ["networks", "domains", "asns", "software", "name", "contacts", "add", "remove", "drop-file", "add-file"]


@st.composite
def reloads(draw: st.DrawFn) -> tuple[list[list[Establishment]], list[list[Establishment]]]:
    """Files of establishments before a reload, and after it: the files not edited keep their very objects."""
    count = iter(range(1000))
    files = [[draw(establishments(next(count))) for _ in range(draw(st.integers(0, 4)))] for _ in range(3)]
    after = [list(file) for file in files]
    for edit in draw(st.lists(st.sampled_from(EDITS), min_size=1, max_size=3)):
        file = after[draw(st.integers(0, len(after) - 1))] if after else []
        if edit == "drop-file" and after:
            after.remove(file)
        elif edit == "add-file":
            after.append([draw(establishments(next(count))) for _ in range(draw(st.integers(1, 3)))])
        elif edit == "add":
            file.append(draw(establishments(next(count))))
        elif file:
            at = draw(st.integers(0, len(file) - 1))
            if edit == "remove":
                del file[at]
                continue
            other = draw(establishments(next(count)))
            field = {"name": "name", "contacts": "contacts"}.get(edit, edit)
            if edit == "contacts":
                file[at] = dataclasses.replace(file[at], language="en")
            else:
                file[at] = dataclasses.replace(file[at], **{field: getattr(other, field)})
    return files, after


def registry(files: list[list[Establishment]]) -> Registry:
    ests = [est for file in files for est in file]
    return Registry(MappingProxyType({e.id: e for e in ests}), ())


def observations() -> list[Observation]:
    values = [
        *(Indicator(T.CIDR if "/" in n and not n.endswith(("/32", "/128")) else T.IPV4, n) for n in NETS[:4]),
        Indicator(T.IPV4, "52.16.4.7"),
        Indicator(T.IPV4, "147.210.9.1"),
        Indicator(T.IPV6, "2001:660:10::1"),
        Indicator(T.CIDR, "2001:660::/40"),
        *(Indicator(T.DOMAIN, d) for d in DOMAINS),
        Indicator(T.URL, "https://www.chu-a.fr/login"),
        Indicator(T.EMAIL, "rh@clinique-b.example"),
        Indicator(T.ASN, "2200"),
        Indicator(T.ASN, "64512"),
    ]
    found = [Observation("f", f"i{n}", FeedKind.COMPROMISE, "t", indicators=(v,)) for n, v in enumerate(values)]
    for n, sw in enumerate(SOFTWARE):
        product = Product(sw.vendor, sw.product, status=ProductStatus.NAMED)
        found.append(
            Observation("f", f"p{n}", FeedKind.VULNERABILITY, "t", (Indicator(T.CVE, f"CVE-2024-{n}"),), (product,))
        )
    for n, name in enumerate(NAMES):
        text = f"Le groupe a revendiqué l'attaque contre {name} à {TOWNS[n % 3].title()} (hôpital)."
        found.append(Observation("leaks", f"t{n}", FeedKind.LEAK, name, text=text))
    return found


def answers(index: MatchIndex) -> object:
    result = index.match(observations())
    findings = [(f.entry, f.establishment, f.indicator, f.asset, f.reason, f.facts) for f in result.findings]
    texts = [index.scan(o.text) for o in observations() if o.text]
    return findings, result.suppressed, result.not_affected, texts, index.unsafe_names


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reloads())
def test_an_index_built_from_the_previous_one_answers_as_one_built_from_scratch(
    edited: tuple[list[list[Establishment]], list[list[Establishment]]],
) -> None:
    before, after = edited
    previous = MatchIndex(registry(before), benign=BENIGN, allowlist=ALLOW)
    answers(previous)  # the parts' memos filled by use, as a running daemon's are
    rebuilt = MatchIndex(registry(after), benign=BENIGN, allowlist=ALLOW, previous=previous)
    scratch = MatchIndex(registry(after), benign=BENIGN, allowlist=ALLOW)
    assert answers(rebuilt) == answers(scratch)


def test_the_parts_whose_inputs_did_not_change_serve_again() -> None:
    a = Establishment("a", "Centre Hospitalier de Lannion", networks=(ipaddress.ip_network("52.16.0.0/16"),))
    b = Establishment("b", "Clinique Saint-Joseph", domains=("clinique-b.example",), software=(SOFTWARE[0],))
    previous = MatchIndex(registry([[a], [b]]), benign=BENIGN, allowlist=ALLOW)
    b = dataclasses.replace(b, name="Clinique Sainte-Anne")
    renamed = MatchIndex(registry([[a], [b]]), BENIGN, ALLOW, previous=previous)
    assert renamed.reused == ("addresses", "domains", "asns", "software")
    assert renamed.addresses is previous.addresses and renamed.names is not previous.names
    a = dataclasses.replace(a, networks=(ipaddress.ip_network("52.17.0.0/16"),))
    moved = MatchIndex(registry([[a], [b]]), BENIGN, ALLOW, previous=renamed)
    assert moved.reused == ("domains", "asns", "software", "names")
    other_lists = MatchIndex(registry([[a], [b]]), BENIGN, Allowlist(), previous=moved)
    assert other_lists.reused == ("asns", "software", "names")
    assert MatchIndex(registry([[a], [b]]), BENIGN, ALLOW).reused == ()


# -- the names part patched at a reload ------------------------------------------------------------------------
#
# A reload that edits names patches the matcher before (NameMatcher.edited): the edited establishments' forms out of
# the phrase index, their new ones in. Checked here on registries written as FINESS has them (categories, communes,
# legal entities, tags, acronyms, closed establishments, long names), with names several establishments share, for
# every kind of name edit: the patched matcher holds what one built from scratch holds, and rules alike on texts.

SHARED_NAMES = [
    "CH DE LANNION",
    "CENTRE HOSPITALIER DE LANNION",
    "CLINIQUE SAINT JOSEPH",
    "HOPITAL NORD",
    "HU PITIE SALPETRIERE APHP",
    "HOPITAL EUROPEEN",
    "CH ARLES",
    "SAINT LOUIS",
    "PHARMACIE DU PARC",
    "EHPAD LES TILLEULS",
    "CENTRE HOSPITALIER UNIVERSITAIRE DE RENNES",
    "CHRU RENNES SITE PONTCHAILLOU",
    "APHM HOPITAL LA TIMONE",
    "IVRY SUR SEINE",
    "LA PROVIDENCE",
    "CH",
]
CITIES = ["LANNION", "ARLES", "RENNES", "MARSEILLE", "IVRY SUR SEINE", "SAINT PAUL", ""]
CATEGORIES = ["355", "101", "106", "292", "365", "128", "620", "500", ""]
ENTITIES = ["", "", "220000020", "130786049"]


@st.composite
def finess_establishments(draw: st.DrawFn, n: int) -> Establishment:
    number = f"{n:09d}"
    finess = Finess(
        number,
        ej=draw(st.sampled_from(ENTITIES)),
        long_name=draw(st.sampled_from(["", "", "CENTRE HOSPITALIER DE LANNION", "GROUPE HOSPITALIER DU PARC"])),
        department=draw(st.sampled_from(["22", "13", "35", "94"])),
        closed=draw(st.sampled_from(["", "", "", "2019-05-01"])),
    )
    return Establishment(
        id=number,
        name=draw(st.sampled_from(SHARED_NAMES)) + draw(st.sampled_from(["", "", f" {n % 4}"])),
        aliases=tuple(draw(st.lists(st.sampled_from(SHARED_NAMES), max_size=2, unique=True))),
        city=draw(st.sampled_from(CITIES)),
        postcode=draw(st.sampled_from(["", "22300", "13200"])),
        category=draw(st.sampled_from(CATEGORIES)),
        acronyms=tuple(draw(st.lists(st.sampled_from(["CHSF", "CHL", "APHM"]), max_size=1))),
        finess=draw(st.sampled_from([finess, finess, None])),
    )


NAME_EDITS = ["name", "aliases", "long-name", "city", "category", "acronyms", "entity", "closed", "shared"]
NAME_EDITS += ["add", "remove", "contacts"]


@st.composite
def name_reloads(draw: st.DrawFn) -> tuple[list[list[Establishment]], list[list[Establishment]]]:
    """Files of FINESS-like establishments before a reload, and after edits of their names, places and kinds: the
    files not edited keep their very objects."""
    count = iter(range(1, 1000))
    files = [[draw(finess_establishments(next(count))) for _ in range(draw(st.integers(1, 6)))] for _ in range(3)]
    after = [list(file) for file in files]
    for edit in draw(st.lists(st.sampled_from(NAME_EDITS), min_size=1, max_size=4)):
        file = after[draw(st.integers(0, len(after) - 1))]
        if edit == "add":
            file.insert(draw(st.integers(0, len(file))), draw(finess_establishments(next(count))))
            continue
        if not file:
            continue
        at = draw(st.integers(0, len(file) - 1))
        est = file[at]
        if edit == "remove":
            del file[at]
            continue
        other = draw(finess_establishments(next(count)))
        finess = est.finess or Finess(est.id)
        if edit == "shared":  # named as another establishment is, or renamed away from a name it shared
            names = [e.name for f in after for e in f if e.id != est.id] or [other.name]
            file[at] = dataclasses.replace(est, name=draw(st.sampled_from([*names, other.name])))
        elif edit in {"long-name", "entity", "closed"}:
            field = {"long-name": "long_name", "entity": "ej", "closed": "closed"}[edit]
            value = getattr(other.finess or Finess(est.id, closed="2020-01-01"), field)
            file[at] = dataclasses.replace(est, finess=dataclasses.replace(finess, **{field: value}))
        elif edit == "contacts":
            file[at] = dataclasses.replace(est, language="en")
        else:
            field = {"name": "name", "aliases": "aliases", "city": "city", "category": "category"}.get(edit, edit)
            file[at] = dataclasses.replace(est, **{field: getattr(other, field)})
    return files, after


POSTS = SHARED / "feeds" / "more" / "leak_ransomware-live_posts_2023-06-04.json"


@functools.cache
def leak_titles() -> tuple[str, ...]:
    """Every post title of a real leak-site sample (6,574 victims)."""
    return tuple(post["post_title"] for post in json.loads(POSTS.read_text(encoding="utf-8")))


def name_texts() -> list[str]:
    """Texts naming the pool's names, with and without their places and kinds, and a sample of real leak titles."""
    texts = [
        f"Le groupe a revendiqué l'attaque contre {name.title()} à {city.title() or 'Paris'} (hôpital)."
        for name, city in zip(SHARED_NAMES, CITIES * 3, strict=False)
    ]
    texts += [f"{name} hit by ransomware" for name in SHARED_NAMES]
    texts += ["Hôpital de Lannion: données volées", "CHSF: cyberattaque au CH de Rennes", "Clinique Saint-Paul"]
    texts += ["Centre hospitalier d'Arles", "APHM Hôpital de la Timone (Marseille)", "Pharmacie du Parc, Ivry"]
    return texts + list(leak_titles()[::40])


def contents(matcher: NameMatcher, ids: Iterable[str] | None = None) -> object:
    """Everything a name matcher holds that its rulings depend on, comparable: each phrase with its forms in
    order and its anchor, the words' rarity, what weak forms need, the names left out, the acronyms, the
    gazetteer, the category-and-commune forms and each establishment's forms (or those of ``ids``)."""
    forms = matcher.forms
    anchors = {key: anchor for anchor, keys in forms._keys.items() for key in keys}
    probes = {
        (a, offset, length, key) for a, shapes in forms._probes.items() for offset, length, ks in shapes for key in ks
    }
    return (
        forms._table,
        anchors,
        probes,
        forms._rarity,
        forms._anchors,
        forms._longest,
        len(forms),
        matcher._needs,
        matcher.unsafe,
        matcher._acronyms,
        matcher._acronym_words,
        matcher._places,
        list(matcher._commune_forms.items()),
        {est_id: matcher.forms_of(est_id) for est_id in (matcher._ests if ids is None else ids)},
    )


def name_rulings(matcher: NameMatcher, texts: list[str]) -> list[object]:
    return [matcher.find(text) for text in texts]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name_reloads())
def test_a_names_part_patched_at_a_reload_holds_and_rules_as_one_built_from_scratch(
    edited: tuple[list[list[Establishment]], list[list[Establishment]]],
) -> None:
    before, after = edited
    previous = NameMatcher(registry(before))
    patched = previous.edited(registry(after))
    scratch = NameMatcher(registry(after))
    assert patched is not None  # no edit here moves establishments among the others
    assert contents(patched) == contents(scratch)
    texts = name_texts()
    assert name_rulings(patched, texts) == name_rulings(scratch, texts)
    assert contents(previous) == contents(NameMatcher(registry(before)))  # the matcher before is left as it was


@pytest.mark.slow
def test_edits_of_the_real_finess_registry_patch_the_names_part_as_a_build_from_scratch() -> None:
    """The full FINESS registry, edited as an operator would, one reload after another (a hospital renamed, one
    named as another is, then renamed away, an alias added, one moved to another commune, one added, one
    removed): each patched matcher holds what one built from scratch holds, and rules alike on every post title
    of a real leak-site sample."""
    ests = dict(finess_registry().establishments)
    hospitals = [e for e in ests.values() if e.category == "355" and not e.closed and e.city]
    first, second, third = hospitals[10], hospitals[200], hospitals[400]
    added = dataclasses.replace(first, id="999999999", name="CLINIQUE DES EDITS", finess=None)
    edits: list[tuple[str, Establishment | None]] = [
        (first.id, dataclasses.replace(first, name=f"RENAMED {first.name}")),
        (second.id, dataclasses.replace(second, name=third.name)),  # two hospitals share a name
        (second.id, second),  # and one is renamed away from it
        (third.id, dataclasses.replace(third, aliases=("Hôpital des Edits", first.name))),
        (first.id, dataclasses.replace(first, city=third.city, postcode=third.postcode)),
        (added.id, added),
        (hospitals[600].id, None),
    ]
    titles = list(leak_titles())
    matcher = NameMatcher(Registry(MappingProxyType(dict(ests)), ()))
    for est_id, edited in edits:
        if edited is None:
            del ests[est_id]
        else:
            ests[est_id] = edited
        registry_after = Registry(MappingProxyType(dict(ests)), ())
        patched = matcher.edited(registry_after)
        scratch = NameMatcher(registry_after)
        assert patched is not None
        shown = [first.id, second.id, third.id, added.id]
        assert contents(patched, shown) == contents(scratch, shown)
        assert name_rulings(patched, titles) == name_rulings(scratch, titles)
        matcher = patched
