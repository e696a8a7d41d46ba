"""A label a feed wrote, on the report's page in a real browser (README "Reports"): a long unbreakable one wraps
inside its table, and control, bidirectional and invisible characters are gone from the page and the CSV."""

from __future__ import annotations

import re
import subprocess

import pytest
from chromium import chromium_or_fail
from configs import ALERTD
from report_state import E1, Email, _paris, compromise, write_config

YEAR = ("--from", "2026-01-01", "--to", "2026-12-31")


def test_a_long_label_wraps_and_loses_its_control_characters(tmp_path_factory: pytest.TempPathFactory) -> None:
    # A malware family of 100 characters without a space (the store's cut), with ESC, BEL and a right-to-left
    # override a feed could have written: its table still fits 900 px, and the page shows none of them.
    name = "\x1b[31m\a\u202e" + "A" * 100
    folder = tmp_path_factory.mktemp("report-long")
    config = write_config(folder, [Email(_paris(2026, 7, 1, 9), E1, [compromise(E1, name, 60)], reference="L1")])
    out = folder / "report.html"
    subprocess.run([ALERTD, "-c", str(config), "report", *YEAR, "-o", str(out)], check=True, timeout=120)
    page = out.read_text(encoding="utf-8")
    assert "A" * 90 in page
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", page)
    csv_text = subprocess.run(
        [ALERTD, "-c", str(config), "report", *YEAR, "--format", "csv"], check=True, timeout=120, capture_output=True
    ).stdout.decode()
    assert "A" * 90 in csv_text and not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202e]", csv_text)
    with chromium_or_fail() as browser:
        tab = browser.new_page(viewport={"width": 900, "height": 900})
        tab.goto(out.resolve().as_uri(), wait_until="load")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 900
        widest = tab.evaluate("Math.max(...[...document.querySelectorAll('table')].map(t => t.scrollWidth))")
        assert widest <= tab.evaluate("document.querySelector('main').clientWidth")
        tab.close()
