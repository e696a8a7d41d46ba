"""The report's page in a real browser (README "Reports"): the page the real ``alertd report`` writes over the
hand-built state (tests/report_state.py), opened by headless Chromium from a file, loads nothing, fits its width,
shows its charts, and prints on A4 with no chart or table cut across two pages."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest
from chromium import chromium_or_fail
from configs import ALERTD
from playwright.sync_api import Page
from report_state import write_config

YEAR = ("--from", "2026-01-01", "--to", "2026-12-31")


@pytest.fixture(scope="module", params=["fr", "en"])
def page(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, list[str]]]:
    """The page of the year 2026 against 2025 in Chromium at 900 px, and every URL it requested."""
    folder = tmp_path_factory.mktemp(f"report-{request.param}")
    config = write_config(folder)
    out = folder / "report.html"
    subprocess.run(
        [ALERTD, "-c", str(config), "report", *YEAR, "--compare-previous", "--language", request.param, "-o", str(out)],
        check=True,
        timeout=120,
    )
    with chromium_or_fail() as browser:
        tab = browser.new_page(viewport={"width": 900, "height": 900})
        requested: list[str] = []
        tab.on("request", lambda r: requested.append(r.url))
        tab.goto(out.resolve().as_uri(), wait_until="load")
        yield tab, requested
        tab.close()


def test_the_page_loads_nothing_but_itself(page: tuple[Page, list[str]]) -> None:
    tab, requested = page
    assert len(requested) == 1 and requested[0].startswith("file://")
    assert tab.evaluate("document.scripts.length") == 0


def test_it_fits_its_width_and_draws_every_chart(page: tuple[Page, list[str]]) -> None:
    tab, _ = page
    assert tab.evaluate("document.documentElement.scrollWidth") <= 900
    sizes = tab.evaluate(
        "[...document.querySelectorAll('svg')].map(s => s.getBoundingClientRect()).map(r => [r.width, r.height])"
    )
    assert len(sizes) == 5
    assert all(200 < w <= 900 and h > 50 for w, h in sizes)


def test_it_prints_on_a4_without_cutting_a_chart(page: tuple[Page, list[str]]) -> None:
    tab, _ = page
    tab.emulate_media(media="print")
    kept = tab.evaluate("[...document.querySelectorAll('section, figure')].map(e => getComputedStyle(e).breakInside)")
    assert kept and set(kept) == {"avoid"}
    pdf = tab.pdf(prefer_css_page_size=True, print_background=True)
    tab.emulate_media(media="screen")
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf))
    assert boxes and all(abs(float(w) - 595.3) < 1.5 and abs(float(h) - 841.9) < 1.5 for w, h in boxes)  # A4
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 2 <= pages <= 8
