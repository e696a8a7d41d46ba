"""``alertd registry import finess``: the three FINESS layouts read right, and a re-import that changes what FINESS
owns and nothing of what the operator wrote (contract §2)."""

from __future__ import annotations

import dataclasses
import gzip
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml
from configs import ALERTD, copy_example
from hypothesis import given
from hypothesis import strategies as st
from paths import DATA, SHARED

from alertd.config.files import load_config
from alertd.config.finess import FinessError, FinessRecord, read_finess
from alertd.config.finess_import import import_finess
from alertd.config.finess_items import render_scalar
from alertd.config.registry import load_registry
from alertd.config.yamlsrc import loads_fast
from alertd.service.cli import build_parser, cmd_registry_import

FIXTURES = DATA / "finess"
LATIN1 = FIXTURES / "etalab-cs1100507-sample-latin1.csv"
UTF8 = FIXTURES / "etalab-cs1100507-sample-utf8.csv"
FHIR = FIXTURES / "fhir-sample.ndjson"
FHIR_TAR = FIXTURES / "fhir-sample.tar.gz"
TODAY = date(2026, 12, 1)


def records(path: Path) -> dict[str, FinessRecord]:
    return {r.et: r for r in read_finess(path)}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command's arguments as its parser reads them, run in this process (``main`` would also set up the
    logs on the captured stderr, which later tests would then write to); one test runs the real command."""
    parsed = build_parser().parse_args(["registry", "import", "finess", *args])
    code = cmd_registry_import(parsed.files, parsed.into, parsed.dry_run, parsed.partial, parsed.date)
    out, err = capsys.readouterr()
    return code, out, err


def edited_extract(tmp_path: Path, *, drop: str = "", rename: tuple[str, str] | None = None) -> Path:
    """The Latin-1 fixture without the rows of ``drop`` and with one name changed (old, new)."""
    text = LATIN1.read_bytes().decode("latin-1")
    lines = [line for line in text.splitlines(keepends=True) if not (drop and f";{drop};" in line)]
    edited = "".join(lines)
    if rename is not None:
        assert rename[0] in edited
        edited = edited.replace(rename[0], rename[1])
    path = tmp_path / f"extract-{len(list(tmp_path.glob('extract-*')))}.csv"
    path.write_bytes(edited.encode("latin-1"))
    return path


# --- the readers --------------------------------------------------------------------------------------------------


def test_the_official_layout_is_read_field_by_field() -> None:
    read = records(LATIN1)
    assert len(read) == 37
    arles = read["130002827"]
    assert (arles.name, arles.ej, arles.category, arles.category_label) == (
        "CH JOSEPH IMBERT D'ARLES",
        "130789274",
        "355",
        "Centre Hospitalier (C.H.)",
    )
    assert (arles.city, arles.postcode, arles.department) == ("ARLES", "13637", "13")  # "13637 ARLES CEDEX"
    assert arles.address == "QUA FOURCHON, BP 80195"
    assert (arles.opened, arles.updated) == ("1974-04-01", "2011-06-15")
    fleyriat = read["010000024"]
    assert fleyriat.long_name == "CENTRE HOSPITALIER DE BOURG-EN-BRESSE FLEYRIAT"
    assert (fleyriat.city, fleyriat.address) == ("VIRIAT", "900 RTE DE PARIS")
    assert read["750100125"].city == "PARIS"  # "75651 PARIS CEDEX 13"
    assert (read["2A0000022"].department, read["2A0000022"].city) == ("2A", "AJACCIO")  # "AJACCIO CEDEX 1"
    assert read["2B0000012"].department == "2B"
    assert [read[et].department for et in ("970100400", "970112470", "970200036", "970300026", "970400024")] == [
        "971",  # Saint-Martin, under Guadeloupe
        "971",  # Saint-Barthélemy
        "972",
        "973",
        "974",
    ]
    assert read["970300026"].city == "CAYENNE"
    assert read["020002747"].name == "PHARMACIE DE BRUYÈRES"
    assert read["010780922"].name == "EHPAD RESIDENCE L'ALBIZIA À CERDON"
    assert read["290001015"].category_label == "Centre hospitalier, ex Hôpital local"
    assert read["970300083"].name == 'CENTRE HOSPITALIER "FRANCK-JOLY"'  # CSV quoting; spaces collapsed
    assert not any("\ufffd" in str(record) for record in read.values())


def test_latin1_and_utf8_extracts_read_the_same(tmp_path: Path) -> None:
    latin1, utf8 = records(LATIN1), records(UTF8)
    assert {k: dataclasses.replace(v, where="") for k, v in latin1.items()} == {
        k: dataclasses.replace(v, where="") for k, v in utf8.items()
    }
    import_finess([LATIN1], tmp_path / "a", today=TODAY)
    import_finess([UTF8], tmp_path / "b", today=TODAY)
    written = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_fhir_organizations_read_as_the_official_rows(tmp_path: Path) -> None:
    official, fhir = records(LATIN1), records(FHIR)
    assert fhir.keys() == official.keys()  # 37 Organizations; their 37 Locations skipped
    for et, record in fhir.items():
        row = official[et]
        assert record.long_name == ""  # the FHIR conversion does not carry rslongue
        for name in ("ej", "name", "category", "category_label", "city", "postcode", "department", "opened"):
            assert getattr(record, name) == getattr(row, name), (et, name)
        assert record.address == row.address, et
        assert record.updated == row.updated, et
    packed = tmp_path / "sample.ndjson.gz"
    packed.write_bytes(gzip.compress(FHIR.read_bytes()))
    assert records(packed).keys() == fhir.keys()
    assert records(FHIR_TAR) == {
        et: dataclasses.replace(r, where=r.where.replace(str(FHIR), f"{FHIR_TAR}:{FHIR.name}"))
        for et, r in fhir.items()
    }


def test_the_historical_layout_is_read() -> None:
    read = records(SHARED / "finess" / "etalab_small_20201231.csv")
    assert len(read) == 100
    fleyriat = read["010000024"]
    assert (fleyriat.name, fleyriat.long_name) == ("CH DE FLEYRIAT", "CENTRE HOSPITALIER DE BOURG-EN-BRESSE FLEYRIAT")
    assert (fleyriat.category_label, fleyriat.city, fleyriat.postcode) == (
        "Centre Hospitalier (C.H.)",
        "VIRIAT",
        "01440",
    )


def test_a_category_without_label_is_labelled_from_the_nomenclature(tmp_path: Path) -> None:
    path = edited_extract(tmp_path, rename=(";355;Centre Hospitalier (C.H.);1102;", ";355;;1102;"))
    assert records(path)["130002827"].category_label == "Centre Hospitalier (C.H.)"


@pytest.mark.parametrize(
    ("content", "where", "words"),
    [
        (b"nom;ville\nCH X;ARLES\n", ":1:", "not a FINESS extract"),
        (b"", ":1:", "empty file"),
        (b"finess;etalab;95;2021-01-08\nstructureet;130002827;130789274;CH X\n", ":2:", "has 4 fields"),
        (b"finess;etalab;95;2021-01-08\nstructureej;130789274\n", ":2:", "unknown row type"),
        (b'{"resourceType": "Location"}\n{"resourceType": "Organization", \n', ":2:", "not a JSON object"),
        (b"\x1f\x8b\x08\x00garbage", "", "damaged archive"),
    ],
)
def test_a_file_that_is_no_extract_is_refused_where_it_goes_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, where: str, words: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    into = tmp_path / "registry"
    code, _, err = run(capsys, str(LATIN1), str(bad), "--into", str(into))
    assert code == 2
    assert f"{bad}{where}" in err and words in err, err
    assert not into.exists()  # nothing written, not even the good file's establishments


def test_a_bad_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = edited_extract(tmp_path, rename=(";1974-04-01;", ";1er avril;"))
    with pytest.raises(FinessError, match=rf"{path}:\d+: opening date '1er avril' is not a date"):
        records(path)


# --- writing and merging ------------------------------------------------------------------------------------------


def test_an_import_writes_one_file_per_department_in_finess_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    into = tmp_path / "establishments"
    code, out, _ = run(capsys, str(LATIN1), "--into", str(into))
    assert code == 0
    assert "37 establishments read; wrote 15 files" in out and "37 added, 0 updated, 0 unchanged" in out
    assert (into / "finess-13.yaml").exists() and (into / "finess-2A.yaml").exists()
    assert (into / "finess-971.yaml").exists() and (into / "finess-974.yaml").exists()
    ain = yaml.safe_load((into / "finess-01.yaml").read_text())["establishments"]
    assert [item["id"] for item in ain] == sorted(item["id"] for item in ain)
    registry = load_registry(into)
    assert len(registry.establishments) == 37
    arles = registry.establishments["130002827"]
    assert (arles.name, arles.city, arles.postcode, arles.category, arles.country) == (
        "CH JOSEPH IMBERT D'ARLES",
        "ARLES",
        "13637",
        "355",
        "FR",
    )
    assert arles.finess is not None and arles.finess.ej == "130789274" and arles.finess.department == "13"
    assert not arles.closed


OPERATOR_EDIT = """\
    # The operator's notes: Arles is watched closely.
    aliases: [Centre hospitalier d'Arles, Hôpital d'Arles]   # as the press writes it
    acronyms: [CHA]
"""
OPERATOR_TAIL = """\
    contacts:
      - {email: rssi@ch-arles.example, role: security}   # the RSSI
      - email: dsi@ch-arles.example
        min_severity: high
    domains: [ch-arles.fr]
    tags: [ght-13]

  # The next one is a psychiatric hospital.
"""


def operator_edits(path: Path) -> str:
    """Arles' item in ``path`` edited as an operator would: keys and comments between FINESS's and after them."""
    text = path.read_text()
    start = text.index('  - id: "130002827"')
    end = text.index("\n  - id:", start) + 1
    item = text[start:end]
    item = item.replace("    category:", OPERATOR_EDIT + "    category:", 1) + OPERATOR_TAIL
    text = "# Registry of the Bouches-du-Rhône: edited by the CERT.\n" + text[:start] + item + text[end:]
    path.write_text(text)
    return text


def test_a_reimport_keeps_the_operators_lines_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    before = operator_edits(into / "finess-13.yaml")
    others = {p.name: p.read_bytes() for p in into.iterdir() if p.name != "finess-13.yaml"}
    renamed = edited_extract(tmp_path, rename=(";CH JOSEPH IMBERT D'ARLES;", ";CH D'ARLES JOSEPH IMBERT;"))
    code, out, _ = run(capsys, str(renamed), "--into", str(into))
    assert code == 0
    assert "wrote 1 file " in out and "0 added, 1 updated, 36 unchanged, 0 closed, 0 reopened" in out
    expected = before.replace("    name: CH JOSEPH IMBERT D'ARLES\n", "    name: CH D'ARLES JOSEPH IMBERT\n")
    assert (into / "finess-13.yaml").read_text() == expected
    assert {p.name: p.read_bytes() for p in into.iterdir() if p.name != "finess-13.yaml"} == others
    arles = load_registry(into).establishments["130002827"]
    assert arles.name == "CH D'ARLES JOSEPH IMBERT"
    assert arles.domains == ("ch-arles.fr",) and arles.acronyms == ("CHA",) and len(arles.contacts) == 2
    code, out, _ = run(capsys, str(renamed), "--into", str(into))
    assert "wrote 0 files" in out and "37 unchanged" in out
    assert (into / "finess-13.yaml").read_text() == expected


def test_a_comment_on_a_finess_line_stays_when_its_value_changes(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    path = into / "finess-13.yaml"
    path.write_text(path.read_text().replace("    name: CH JOSEPH IMBERT D'ARLES\n", "    name: 'CH X'  # sic\n"))
    import_finess([LATIN1], into, today=TODAY)
    assert "    name: CH JOSEPH IMBERT D'ARLES  # sic\n" in path.read_text()


def test_an_establishment_gone_is_closed_and_back_is_reopened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    before = operator_edits(into / "finess-13.yaml")
    without = edited_extract(tmp_path, drop="130002827")
    code, out, _ = run(capsys, str(without), "--into", str(into), "--partial")  # one department, say
    assert code == 0 and "0 closed" in out and (into / "finess-13.yaml").read_text() == before
    code, out, _ = run(capsys, str(without), "--into", str(into), "--date", "2026-12-24")
    assert code == 0 and "36 unchanged, 1 closed, 0 reopened" in out
    closed = (into / "finess-13.yaml").read_text()
    assert closed == before.replace(
        '      updated: "2011-06-15"\n', '      updated: "2011-06-15"\n      closed: "2026-12-24"\n'
    )
    arles = load_registry(into).establishments["130002827"]
    assert arles.closed and arles.finess is not None and arles.finess.closed == "2026-12-24"
    code, out, _ = run(capsys, str(without), "--into", str(into), "--date", "2027-01-15")
    assert "0 closed" in out and (into / "finess-13.yaml").read_text() == closed  # closed once, on its date
    code, out, _ = run(capsys, str(LATIN1), "--into", str(into))
    assert "0 updated, 36 unchanged, 0 closed, 1 reopened" in out
    assert (into / "finess-13.yaml").read_text() == before
    assert not load_registry(into).establishments["130002827"].closed


def test_an_item_the_operator_moved_stays_in_its_file(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    departmental = into / "finess-13.yaml"
    text = departmental.read_text()
    start = text.index('  - id: "130002827"')
    end = text.index("\n  - id:", start) + 1
    watched = into / "watched.yaml"
    watched.write_text(
        "# Hospitals the CERT follows.\nestablishments:\n" + text[start:end] + "    domains: [ch-arles.fr]\n"
    )
    departmental.write_text(text[:start] + text[end:])
    renamed = edited_extract(tmp_path, rename=(";CH JOSEPH IMBERT D'ARLES;", ";CH D'ARLES;"))
    report = import_finess([renamed], into, today=TODAY)
    assert (report.added, report.updated) == (0, 1)
    assert "130002827" not in departmental.read_text()
    assert "    name: CH D'ARLES\n" in watched.read_text() and "    domains: [ch-arles.fr]\n" in watched.read_text()
    assert load_registry(into).establishments["130002827"].domains == ("ch-arles.fr",)


def test_an_item_the_operator_gave_its_own_id_is_found_by_its_finess_number(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    import_finess([LATIN1], into, today=TODAY)
    path = into / "finess-13.yaml"
    path.write_text(path.read_text().replace('  - id: "130002827"\n', "  - id: ch-arles\n"))
    renamed = edited_extract(tmp_path, rename=(";CH JOSEPH IMBERT D'ARLES;", ";CH D'ARLES;"))
    report = import_finess([renamed], into, today=TODAY)
    assert (report.added, report.updated) == (0, 1)
    arles = load_registry(into).establishments["ch-arles"]
    assert arles.name == "CH D'ARLES" and "130002827" not in load_registry(into).establishments


def test_a_new_establishment_goes_in_finess_order_among_the_operators_items(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    without = edited_extract(tmp_path, drop="130002827")
    import_finess([without], into, today=TODAY, partial=True)
    path = into / "finess-13.yaml"
    path.write_text(path.read_text().replace('\n  - id: "130783293"', '\n  # La Timone, APHM\n  - id: "130783293"'))
    report = import_finess([LATIN1], into, today=TODAY)
    assert report.added == 1
    ids = [item["id"] for item in yaml.safe_load(path.read_text())["establishments"]]
    assert ids == sorted(ids) and "130002827" in ids
    text = path.read_text()
    assert text.index('- id: "130002827"') < text.index('  # La Timone, APHM\n  - id: "130783293"')


def test_an_item_in_flow_style_is_rewritten_in_block_style_with_its_values(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    into.mkdir()
    (into / "mine.yaml").write_text(
        'establishments:\n  - {id: "130002827", name: Hôpital d\'Arles, domains: [ch-arles.fr], asns: [2200]}\n'
    )
    report = import_finess([LATIN1], into, today=TODAY)
    assert report.rewritten == [f"{into / 'mine.yaml'}:2"] and report.added == 36
    arles = load_registry(into).establishments["130002827"]
    assert (arles.name, arles.domains, arles.asns, arles.city) == (
        "CH JOSEPH IMBERT D'ARLES",
        ("ch-arles.fr",),
        (2200,),
        "ARLES",
    )


def test_the_alertd_command_imports_and_says_what_went_wrong(tmp_path: Path) -> None:
    into = tmp_path / "establishments"
    done = subprocess.run(
        [ALERTD, "registry", "import", "finess", str(UTF8), "--into", str(into)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "37 establishments read; wrote 15 files" in done.stdout, done.stderr
    bad = subprocess.run(
        [ALERTD, "registry", "import", "finess", str(FIXTURES / "make_official.py"), "--into", str(into)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "make_official.py:1: not a FINESS extract" in bad.stderr
    usage = subprocess.run([ALERTD, "registry", "import", "finess", str(UTF8)], capture_output=True, text=True)
    assert usage.returncode == 2 and "--into" in usage.stderr


def test_a_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    into = tmp_path / "establishments"
    code, out, _ = run(capsys, str(LATIN1), "--into", str(into), "--dry-run")
    assert code == 0 and "would write 15 files" in out and "37 added" in out and "dry run: nothing written" in out
    assert not into.exists()
    import_finess([LATIN1], into, today=TODAY)
    before = {p.name: p.read_bytes() for p in into.iterdir()}
    code, out, _ = run(capsys, str(edited_extract(tmp_path, drop="130002827")), "--into", str(into), "--dry-run")
    assert "1 closed" in out
    assert {p.name: p.read_bytes() for p in into.iterdir()} == before


def test_a_registry_file_the_import_cannot_edit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    into = tmp_path / "establishments"
    into.mkdir()
    (into / "flow.yaml").write_text('establishments: [{id: "130002827", name: X}]\n')
    code, _, err = run(capsys, str(LATIN1), "--into", str(into))
    assert code == 2 and "flow.yaml:1: the import edits registry files written as 'establishments:'" in err
    (into / "flow.yaml").write_text("establishments:\n  - id: [\n")
    code, _, err = run(capsys, str(LATIN1), "--into", str(into))
    assert code == 2 and "flow.yaml:" in err and "invalid YAML" in err
    (into / "flow.yaml").write_text('establishments:\n  - {id: "130002827", name: X}\n  - {id: "130002827", name: Y}\n')
    code, _, err = run(capsys, str(LATIN1), "--into", str(into))
    assert code == 2 and "flow.yaml:3: FINESS number '130002827' is also at" in err


def test_the_imported_folder_loads_beside_the_operators_files(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    report = import_finess([LATIN1, FHIR], tmp_path / "config" / "establishments", today=TODAY)
    assert report.added == 37
    loaded = load_config(config)
    assert len(loaded.registry.establishments) == 37 + 4


@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_a_rendered_scalar_reads_back_as_the_same_text(value: str) -> None:
    text = f"key: {render_scalar(value)}\n"
    assert yaml.load(text, Loader=yaml.BaseLoader) == {"key": value}  # noqa: S506 - BaseLoader builds only text
    assert loads_fast(text) == {"key": value}


# --- the whole national extract -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_whole_fhir_extract_imports_and_loads(tmp_path: Path) -> None:
    config = copy_example(tmp_path / "config")
    into = tmp_path / "config" / "establishments"
    archives = sorted((SHARED / "finess" / "fhir_flrt_20210108").glob("*.tar.gz"))
    assert len(archives) == 10
    report = import_finess(archives, into, today=TODAY)
    assert report.read == report.added == 95_333
    assert len(list(into.glob("finess-*.yaml"))) == 100
    loaded = load_config(config)
    assert len(loaded.registry.establishments) == 95_333 + 4
    again = import_finess(archives, into, today=TODAY, dry_run=True)
    assert again.unchanged == 95_333 and not again.files_written
