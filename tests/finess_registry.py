"""The full FINESS registry (95,333 establishments of 2021-01-08) as alertd's ``Establishment`` values: the real
extract (``../shared/finess/fhir_flrt_20210108/*.tar.gz``, FHIR ``Organization`` resources) read by the importer's
reader and turned into the values ``alertd registry import finess`` writes, through the registry's own rules —
the YAML round trip left out, which ``tests/config/test_finess_import.py`` covers. Read once per test session."""

from __future__ import annotations

import functools
from types import MappingProxyType

from paths import SHARED

from alertd.config.establishment_rules import Rules
from alertd.config.finess import read_finess
from alertd.config.finess_items import owned_values
from alertd.domain.establishments import Establishment, Registry

FINESS_FHIR = sorted((SHARED / "finess" / "fhir_flrt_20210108").glob("etab*.tar.gz"))


@functools.cache
def finess_registry() -> Registry:
    """Every establishment of the 2021 extract, by FINESS number."""
    rules = Rules()
    ests: dict[str, Establishment] = {}
    for path in FINESS_FHIR:
        for record in read_finess(path):
            est = rules.establishment(owned_values(record))
            assert isinstance(est, Establishment), est
            ests[est.id] = est
    assert len(ests) == 95_333
    return Registry(MappingProxyType(ests), ())
