"""``alertd report`` run as the operator runs it (a subprocess) over the hand-built state of tests/report_state.py:
each format, the figures the store holds, the files written, the usage errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from configs import ALERTD
from report_state import write_config

YEAR = ["--from", "2026-01-01", "--to", "2026-12-31"]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("report-cli"))


def _report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALERTD, "-c", str(config), "report", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_json_holds_the_figures_of_both_years(config: Path) -> None:
    done = _report(config, *YEAR, "--compare-previous", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    current, previous = data["current"], data["previous"]
    assert (current["from"], current["to"]) == ("2026-01-01", "2026-12-31")
    assert (previous["from"], previous["to"]) == ("2025-01-01", "2025-12-31")
    assert (current["warnings"], previous["warnings"]) == (11, 3)
    assert (current["renotifications"], previous["renotifications"]) == (1, 0)
    assert current["by_region"] == {"unknown": 5, "Occitanie": 4, "Nouvelle-Aquitaine": 2}
    assert current["top_cves"] == {"CVE-2023-4966": 2, "CVE-2024-3400": 1}
    assert current["deliveries"] == {"sent_first_time": 6, "sent_after_retries": 2, "failed_for_good": 1, "waiting": 1}
    assert current["acknowledgements"]["median_seconds"] == 10800.0
    # No web: configured, so the emails carried no acknowledgement link: no rate (not 0).
    assert current["acknowledgements"]["rate"] is None
    assert current["proposals"] == {"proposed": 3, "accepted": 1, "rejected": 1, "open": 1}
    assert data["change"]["warnings"] == {"delta": 8, "percent": 266.7}
    assert data["change"]["by_region"]["Occitanie"] == {"delta": 4, "percent": None}


def test_without_compare_there_is_no_previous(config: Path) -> None:
    data = json.loads(_report(config, *YEAR, "--format", "json").stdout)
    assert data["previous"] is None and data["change"] is None
    assert data["current"]["warnings"] == 11


def test_csv_to_a_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    done = _report(config, *YEAR, "--compare-previous", "--format", "csv", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    table = {(r["section"], r["key"], r["period"]): r["value"] for r in rows}
    assert table["warnings", "", "current"] == "11"
    assert table["warnings", "", "previous"] == "3"
    assert table["warnings", "", "change_percent"] == "266.7"
    assert table["by_category", "355", "current"] == "4"
    assert table["by_category", "355", "change_percent"] == ""  # none the year before: no percentage


def test_html_in_french_by_default(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = _report(config, *YEAR, "--compare-previous", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert '<html lang="fr">' in page
    assert "CERT Santé Test" in page
    assert "Du 1er janvier 2026 au 31 décembre 2026" in page
    assert "+8 (+267\u202f%)" in page
    assert "355 — Centre Hospitalier (C.H.)" in page  # the FINESS nomenclature's label
    assert "<script" not in page and "https:" not in page and "http:" not in page


def test_html_in_english_to_stdout(config: Path) -> None:
    done = _report(config, *YEAR, "--language", "en")
    assert done.returncode == 0, done.stderr
    assert '<html lang="en">' in done.stdout
    assert "From 1 January 2026 to 31 December 2026" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "2026-02-01", "--to", "2026-01-31"], "is before --from"),
        (["--from", "2026-13-01", "--to", "2026-12-31"], "invalid fromisoformat value"),
        ([*YEAR, "--format", "pdf"], "invalid choice"),
        (["--from", "0001-01-01", "--to", "2026-12-31"], "out of range"),
        (["--from", "2026-01-01", "--to", "9999-12-31"], "out of range"),
        (["--from", "2026-01-01", "--to", "9999-12-30"], "out of range"),
        (["--from", "0001-02-01", "--to", "0001-02-28", "--compare-previous"], "out of range"),
    ],
)
def test_usage_errors_exit_2(config: Path, args: list[str], says: str) -> None:
    done = _report(config, *args)
    assert done.returncode == 2
    assert says in done.stderr


def test_a_state_never_made_reports_zeros(tmp_path: Path, config: Path) -> None:
    for name in ("feeds.yaml", "establishments.yaml", "subscriptions.yaml", "alertd.yaml"):
        (tmp_path / name).write_text((config.parent / name).read_text(encoding="utf-8"), encoding="utf-8")
    done = _report(tmp_path / "alertd.yaml", *YEAR, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["current"]["warnings"] == 0
    assert not (tmp_path / "state" / "alertd.sqlite3").exists()  # no store made


def test_the_report_reads_beside_a_writer(config: Path) -> None:
    # Another connection holds the write lock (as the daemon recording a poll): the report is a reader, it answers.
    db = sqlite3.connect(config.parent / "state" / "alertd.sqlite3", isolation_level=None, timeout=1.0)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO meta VALUES ('held', 'by a writer')")
        done = _report(config, *YEAR, "--format", "json")
        db.execute("ROLLBACK")
    finally:
        db.close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["current"]["warnings"] == 11


def test_a_store_an_earlier_alertd_wrote_is_refused_not_upgraded(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    store = path.parent / "state" / "alertd.sqlite3"
    with sqlite3.connect(store) as db:
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.close()
    done = _report(path, *YEAR, "--format", "json")
    assert done.returncode == 3
    assert "schema version 3" in done.stderr and "upgrade" in done.stderr
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
    db.close()
