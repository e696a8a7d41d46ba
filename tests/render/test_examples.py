"""The example emails of the README (``templates/examples/``) are what alertd renders today, byte for byte.

When a template or the renderer changes on purpose, regenerate them:
``.venv/bin/python templates/examples/render_examples.py`` (and the README's screenshots:
``docs/screenshots/make_screenshots.py``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from html import unescape
from types import ModuleType

import pytest
from paths import ROOT

EXAMPLES = ROOT / "templates" / "examples"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_examples", EXAMPLES / "render_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_examples", module)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
RENDERED: dict[str, str] = SCRIPT.files()


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_the_committed_example_is_what_alertd_renders(name: str) -> None:
    committed = (EXAMPLES / name).read_text(encoding="utf-8")
    assert committed == RENDERED[name], (
        f"templates/examples/{name} is out of date: run .venv/bin/python templates/examples/render_examples.py"
    )


def test_there_is_one_example_per_finding_type_in_french() -> None:
    assert set(RENDERED) == {f"{kind}.{ext}" for kind in SCRIPT.EXAMPLES for ext in ("txt", "html")}
    assert set(SCRIPT.EXAMPLES) == {"compromise", "vulnerability", "leak", "advisory", "grouped", "inventory"}
    for kind in SCRIPT.EXAMPLES:
        assert "Que faire\u00a0:" in RENDERED[f"{kind}.txt"]
        assert '<html lang="fr">' in RENDERED[f"{kind}.html"]
        assert "<style" not in RENDERED[f"{kind}.html"]
        assert 'id="summary"' in RENDERED[f"{kind}.html"]


@pytest.mark.parametrize(
    ("kind", "facts"),
    [
        ("compromise", ["198[.]51[.]100[.]23", "feodo", "QakBot", "Signalé par la source depuis", "isolez-le"]),
        ("vulnerability", ["CVE-2023-4966", "Citrix NetScaler ADC", "13.1-49.13", "8 novembre 2023", "CTX579459"]),
        ("leak", ["LockBit 3.0", "Date de la publication", "ch-garonne[.]example", "dérobées"]),
        ("advisory", ["CERTFR-2024-ALE-004", "CVE-2024-21762", "Fortinet FortiOS", "Lisez l'avis"]),
        ("grouped", ["198[.]51[.]100[.]23", "7 vulnérabilités exploitées", "CVE-2018-13379", "CVE-2024-21762"]),
        ("inventory", ["État des lieux", "Microsoft Exchange Server", "CVE-2021-26855", "pas des nouveautés"]),
    ],
)
def test_each_example_tells_what_its_type_needs(kind: str, facts: list[str]) -> None:
    text, html = RENDERED[f"{kind}.txt"], unescape(re.sub(r"<[^>]+>", "", RENDERED[f"{kind}.html"]))
    for fact in facts:
        assert fact in text, fact
        assert fact in html, fact
    series = "INV" if kind == "inventory" else "ALE"  # an inventory has its own series of references
    for fact in ("TLP:", "cert@cert-sante.example", "findings.csv", f"CERTSANTE-2024-{series}-00", "+33 1 99 00 12 34"):
        assert fact in text and fact in html


def test_a_grouped_example_tells_the_kev_entries_of_one_product_in_one_block() -> None:
    text = RENDERED["grouped.txt"]
    assert text.count("=== 2/2 — CRITIQUE — vulnérabilité (7 éléments) ===") == 1
    assert text.count("Ces vulnérabilités sont activement exploitées") == 1  # the steps told once
    assert text.index("=== Synthèse ===") < text.index("=== 1/2")
