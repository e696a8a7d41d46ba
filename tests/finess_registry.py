"""The full FINESS registry (95,333 establishments of 2021-01-08) as alertd's ``Establishment`` values, read from
``../shared/finess/finess_et_20210108_all.csv.gz`` with the fields ``alertd registry import finess`` writes: a
stand-in for the importer, in one place, read once per test session."""

from __future__ import annotations

import csv
import functools
import gzip
import re
from types import MappingProxyType

from paths import SHARED

from alertd.domain.establishments import Establishment, Finess, Registry

FINESS_ALL = SHARED / "finess" / "finess_et_20210108_all.csv.gz"
_CEDEX = re.compile(r"\s+CEDEX(?:\s+\d+)?\s*$")


def establishment(row: dict[str, str]) -> Establishment:
    """One row of the flat FINESS table as the registry's YAML layout has it."""
    et = row["nofinesset"]
    department = et[:2] if not et.startswith("97") else et[:3]
    address = " ".join(part for part in (row["address_line_1"], row["address_line_2"]) if part)
    return Establishment(
        id=et,
        name=row["rs"],
        category=row["categetab"],
        city=_CEDEX.sub("", row["ville"]),
        postcode=row["codepostal"],
        finess=Finess(
            et=et,
            ej=row["nofinessej"],
            category_label=row["libcategetab"],
            address=address,
            department=department,
            opened=row["dateouv"],
            updated=row["datemaj"],
        ),
    )


@functools.cache
def finess_registry() -> Registry:
    """Every establishment of the 2021 extract, by FINESS number."""
    with gzip.open(FINESS_ALL, "rt", encoding="utf-8", newline="") as f:
        ests = {est.id: est for est in map(establishment, csv.DictReader(f, delimiter=";"))}
    return Registry(MappingProxyType(ests), ())
