"""France's départements and regions, the places besides its commune that a text names an establishment by ("CHU
de Rennes (Ille-et-Vilaine)", "CHU de Brest en Bretagne"): the shipped table ``departements.csv`` (INSEE's names,
code → name), as name keys (:func:`alertd.match.name_forms.name_key`)."""

from __future__ import annotations

import csv
from importlib.resources import files

from alertd.match.name_forms import Key, name_key


def _read() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """The départements (code → (name, region code)) and the regions (code → name) of the shipped table."""
    text = files("alertd.match").joinpath("departements.csv").read_text(encoding="utf-8")
    departements: dict[str, tuple[str, str]] = {}
    regions: dict[str, str] = {}
    for row in csv.reader(line for line in text.splitlines() if line and not line.startswith("#")):
        if row[0] == "departement":
            departements[row[1]] = (row[2], row[3])
        else:
            regions[row[1]] = row[2]
    return departements, regions


DEPARTEMENTS, REGIONS = _read()
# Every département's and region's name: a place, whoever's it is ("(GARD)" after a name in a text in capitals).
AREA_KEYS = frozenset(name_key(name) for name, _ in DEPARTEMENTS.values()) | frozenset(
    name_key(name) for name in REGIONS.values()
)


def department_code(department: str, postcode: str) -> str:
    """The département's code: FINESS's, else the postcode's ("13637" → 13, "97480" → 974, "20167" → 2A)."""
    if department or len(postcode) != 5 or not postcode.isdigit():
        return department
    if postcode.startswith("97"):
        return postcode[:3]
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    return postcode[:2]


def areas_of(department: str) -> tuple[Key, ...]:
    """The name keys of a département (by its code) and of its region; none for a code the table does not hold."""
    found = DEPARTEMENTS.get(department)
    if found is None:
        return ()
    name, region = found
    return (name_key(name), name_key(REGIONS[region])) if region in REGIONS else (name_key(name),)


__all__ = ["AREA_KEYS", "DEPARTEMENTS", "REGIONS", "areas_of", "department_code"]
