"""The registry's place and FINESS keys: read alike by both parsers, checked at file:line:col."""

from __future__ import annotations

from alertd.config.registry import _load_fast, _load_slow
from alertd.domain.establishments import Finess

IMPORTED = """establishments:
  - id: "130002827"
    name: CH JOSEPH IMBERT D'ARLES
    category: "355"
    city: ARLES
    postcode: 13637
    acronyms: [chja]
    finess: {et: "130002827", ej: "130789274", category_label: "Centre Hospitalier (C.H.)", department: "13",
             opened: "1901-01-01", updated: "2020-11-24"}
  - id: ch-geneve
    name: Hôpitaux universitaires de Genève
    country: CH
    finess: {et: "060000000", closed: "2026-12-02"}
"""


def test_place_and_finess_keys_read_alike_by_both_parsers() -> None:
    fast = _load_fast("reg.yaml", IMPORTED.encode(), IMPORTED)
    slow = _load_slow("reg.yaml", IMPORTED)
    assert fast is not None and not fast.problems
    assert fast.establishments == slow.establishments
    arles, geneve = fast.establishments
    assert (arles.city, arles.postcode, arles.country, arles.category) == ("ARLES", "13637", "FR", "355")
    assert arles.acronyms == ("CHJA",)  # matched in upper case: stored so
    assert arles.finess == Finess(
        "130002827",
        "130789274",
        category_label="Centre Hospitalier (C.H.)",
        department="13",
        opened="1901-01-01",
        updated="2020-11-24",
    )
    assert not arles.closed
    assert geneve.country == "CH" and geneve.closed


def test_bad_place_and_finess_values_are_named_where_written() -> None:
    text = """establishments:
  - id: "1"
    name: CH X
    country: France
    acronyms: [C.H.X]
    finess: {ej: "130789274", colour: red}
"""
    found = [str(p) for p in _load_slow("reg.yaml", text).problems]
    assert found == [
        "reg.yaml:5:16: bad acronym 'C.H.X'; write 2 to 12 letters or digits, such as CHSF",
        "reg.yaml:4:14: bad country 'France'; write an ISO 3166 code such as FR or BE",
        "reg.yaml:6:31: unknown key 'colour' in a FINESS record; allowed: et, ej, long_name, category_label, "
        "address, department, opened, updated, closed",
        "reg.yaml:6:13: a FINESS record lacks required key 'et'",
    ]
