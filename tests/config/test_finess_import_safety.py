"""``alertd registry import finess`` on hostile input and on registry files it cannot edit safely: it writes all
of the folder or nothing, checks its own output, and never closes the country by mistake (contract §2). The
inputs are a review's reproductions."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from configs import ALERTD
from hypothesis import given
from hypothesis import strategies as st
from paths import DATA

from alertd.config.finess import FinessError
from alertd.config.finess_import import import_finess
from alertd.config.finess_items import render_scalar
from alertd.config.finess_verify import Expected, verify
from alertd.config.registry import load_registry
from alertd.service.cli import build_parser, cmd_registry_import

LATIN1 = DATA / "finess" / "etalab-cs1100507-sample-latin1.csv"
TODAY = date(2026, 12, 1)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command as its parser reads it, in this process (see test_finess_import.run)."""
    parsed = build_parser().parse_args(["registry", "import", "finess", *args])
    code = cmd_registry_import(
        parsed.files, parsed.into, parsed.dry_run, parsed.partial, parsed.date, allow_closing=parsed.allow_closing
    )
    out, err = capsys.readouterr()
    return code, out, err


def organization(et: str = "130002827", name: str = "CH JOSEPH IMBERT D'ARLES", **more: str) -> dict[str, Any]:
    """A FHIR Organization as the ANS directory writes one."""
    return {
        "resourceType": "Organization",
        "id": f"130789274-{et}",
        "meta": {"lastUpdated": "2020-02-04T00:00:00+00:00"},
        "identifier": [{"type": {"coding": [{"code": "FINEG"}]}, "value": et}],
        "name": name,
        "address": [{"city": more.get("city", "ARLES"), "line": ["QUA FOURCHON"], "postalCode": "13637"}],
        "type": [{"coding": [{"code": "355", "display": "Centre Hospitalier (C.H.)", "system": "CAT_ETAB"}]}],
    }


def ndjson(path: Path, *organizations: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in organizations))  # ASCII: "\ud800" stays an escape
    return path


def registry(tmp_path: Path, body: str, head: str = "establishments:\n") -> Path:
    """A registry folder holding ``mine.yaml``."""
    into = tmp_path / "establishments"
    into.mkdir()
    (into / "mine.yaml").write_bytes((head + body).encode())
    return into


# --- M7: hostile text, all or nothing, exit codes -----------------------------------------------------------------


def test_lone_surrogates_and_noncharacters_are_dropped_and_the_folder_reads_everywhere(tmp_path: Path) -> None:
    source = ndjson(
        tmp_path / "in.ndjson",
        organization(name="CH \ud800 ARLES", city="ARLES\uffff"),
        organization(et="010000024", name="CH DE \ufffeFLEYRIAT\U000e0080"),
    )
    into = tmp_path / "establishments"
    report = import_finess([source], into, today=TODAY)
    assert report.added == 2 and sorted(p.name for p in into.iterdir()) == ["finess-01.yaml", "finess-13.yaml"]
    loaded = load_registry(into).establishments
    assert (loaded["130002827"].name, loaded["130002827"].city) == ("CH ARLES", "ARLES")
    assert loaded["010000024"].name == "CH DE FLEYRIAT"
    for path in into.iterdir():
        yaml.safe_load(path.read_text())  # PyYAML refuses U+FFFE and U+FFFF in a file


def test_a_failed_write_replaces_nothing_and_exits_3(tmp_path: Path) -> None:
    source = ndjson(tmp_path / "in.ndjson", organization(), organization(et="010000024", name="CH DE FLEYRIAT"))
    into = tmp_path / "establishments"
    into.mkdir()
    (into / ".finess-13.yaml.tmp").mkdir()  # the second file cannot be written
    done = subprocess.run(
        [ALERTD, "registry", "import", "finess", str(source), "--into", str(into)], capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr
    assert "cannot write" in done.stderr and "nothing replaced" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in into.iterdir()) == [".finess-13.yaml.tmp"]  # no finess-01.yaml, no .tmp left


def test_into_a_file_is_refused_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "establishments.yaml"
    single.write_text("establishments: []\n")
    code, _, err = run(capsys, str(LATIN1), "--into", str(single))
    assert code == 2 and f"{single}: a file, not a folder" in err
    assert single.read_text() == "establishments: []\n"


@given(st.text(st.characters(), max_size=40))
def test_a_rendered_scalar_reads_back_even_with_surrogates_and_noncharacters(value: str) -> None:
    text = f"key: {render_scalar(value)}\n"
    assert text.isascii() or all(not "\ud800" <= c <= "\udfff" and c not in "\ufffe\uffff" for c in text)
    assert yaml.load(text, Loader=yaml.BaseLoader) == {"key": value}  # noqa: S506 - BaseLoader builds only text


# --- M6: edits that would break the folder or change the operator's values ----------------------------------------

ANCHOR = """\
  - id: "130002827"
    name: CH OLD NAME
    city: &arles ARLES-OLD
    domains: [ch-arles.fr]
  - id: op-1
    name: Clinique Operateur Exemple
    city: *arles
"""
MERGE = """\
  - &base
    id: "130002827"
    name: CH OLD NAME
    domains: [ch-arles.fr]
  - <<: *base
    id: op-3
    name: Clinique Operateur Trois
"""
MISMATCH = """\
  - id: "130002827"
    name: CH OLD NAME
    finess:
      et: "010000024"
    domains: [ch-arles.fr]
"""


@pytest.mark.parametrize(
    ("body", "where", "words"),
    [
        (ANCHOR, 2, "its 'city' lines define an anchor (&)"),
        (MERGE, 2, "it defines an anchor (&)"),
        (MISMATCH, 2, "the id is FINESS number 130002827 but finess.et is 010000024"),
    ],
)
def test_an_item_the_import_cannot_edit_safely_is_refused_where_it_stands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, where: int, words: str
) -> None:
    into = registry(tmp_path, body)
    before = (into / "mine.yaml").read_bytes()
    source = ndjson(tmp_path / "in.ndjson", organization(), organization(et="010000024", name="CH DE FLEYRIAT"))
    code, _, err = run(capsys, str(source), "--into", str(into), "--partial")
    assert code == 2 and f"{into / 'mine.yaml'}:{where}: " in err and words in err, err
    assert sorted(p.name for p in into.iterdir()) == ["mine.yaml"] and (into / "mine.yaml").read_bytes() == before


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quoted_name_running_onto_a_key_like_line_is_rewritten_from_its_values(quote: str, tmp_path: Path) -> None:
    into = registry(
        tmp_path, f'  - id: "130002827"\n    name: {quote}CH OLD\n    tags: x{quote}\n    domains: [a.fr]\n'
    )
    report = import_finess([ndjson(tmp_path / "in.ndjson", organization())], into, today=TODAY)
    assert report.rewritten == [f"{into / 'mine.yaml'}:2"]
    arles = load_registry(into).establishments["130002827"]
    assert (arles.name, arles.domains, arles.tags) == ("CH JOSEPH IMBERT D'ARLES", ("a.fr",), frozenset())


def test_the_output_is_checked_against_what_each_item_should_read(tmp_path: Path) -> None:
    old = 'establishments:\n  - id: "1"\n    name: A\n    domains: [a.fr]\n'
    edited = Expected("mine.yaml:2", 2, 0, ("name",), {"name": "B"})
    verify("mine.yaml", old, old.replace("name: A", "name: B"), [edited])  # what was wanted: passes
    with pytest.raises(FinessError, match=r"mine.yaml:2: the edit would change this item's domains"):
        verify("mine.yaml", old, old.replace("name: A", "name: B").replace("a.fr", "b.fr"), [edited])
    with pytest.raises(FinessError, match=r"mine.yaml:2: 'name' would not read as FINESS's value"):
        verify("mine.yaml", old, old, [edited])
    with pytest.raises(FinessError, match=r"mine.yaml:2: the import's edit of this item would leave .* unreadable"):
        verify("mine.yaml", old, old.replace("name: A", 'name: "B'), [edited])


# --- S1: a truncated extract does not close the country -----------------------------------------------------------


def test_closing_many_establishments_needs_allow_closing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    before = {p.name: p.read_bytes() for p in into.iterdir()}
    lines = LATIN1.read_bytes().splitlines(keepends=True)
    truncated = tmp_path / "truncated.csv"
    truncated.write_bytes(b"".join(lines[:4]))  # a download cut short: 3 rows of 37
    code, _, err = run(capsys, str(truncated), "--into", str(into))
    assert code == 2 and "would close 34 of the 37 open FINESS establishments" in err, err
    assert "--partial" in err and "--allow-closing" in err
    assert {p.name: p.read_bytes() for p in into.iterdir()} == before
    code, out, _ = run(capsys, str(truncated), "--into", str(into), "--allow-closing")
    assert code == 0 and "34 closed" in out


# --- smaller points: a byte-order mark, a document start, comments on FINESS's lines --------------------------------


@pytest.mark.parametrize(
    "head", ["\ufeffestablishments:\n", "---\nestablishments:\n", "# mine\n---\nestablishments:\n"]
)
def test_a_bom_or_a_document_start_is_kept(tmp_path: Path, head: str) -> None:
    into = registry(tmp_path, '  - id: "130002827"\n    name: CH OLD NAME\n    domains: [ch-arles.fr]\n', head)
    report = import_finess([ndjson(tmp_path / "in.ndjson", organization())], into, today=TODAY)
    assert report.updated == 1 and not report.rewritten
    text = (into / "mine.yaml").read_bytes().decode()
    assert text.startswith(head) and "    domains: [ch-arles.fr]\n" in text
    assert load_registry(into).establishments["130002827"].name == "CH JOSEPH IMBERT D'ARLES"


def test_comments_on_quoted_keys_and_in_the_finess_block_are_kept(tmp_path: Path) -> None:
    into = registry(
        tmp_path,
        '  - id: "130002827"\n'
        '    "name": CH OLD NAME   # c\n'
        "    finess:   # from FINESS\n"
        '        et: "130002827"   # written by hand\n'
        "        # the legal entity\n"
        '        ej: "130789274"\n'
        "    domains: [ch-arles.fr]  # keep this comment\n",
    )
    report = import_finess([ndjson(tmp_path / "in.ndjson", organization())], into, today=TODAY)
    assert report.updated == 1 and not report.rewritten
    text = (into / "mine.yaml").read_text()
    assert "    name: CH JOSEPH IMBERT D'ARLES  # c\n" in text
    assert "    finess:   # from FINESS\n" in text and '        et: "130002827"  # written by hand\n' in text
    assert '        # the legal entity\n        ej: "130789274"\n' in text
    assert "    domains: [ch-arles.fr]  # keep this comment\n" in text
