"""The README's screenshots (``docs/screenshots/``): one per example email and width, small, and all shown.

No browser here: ``docs/screenshots/make_screenshots.py`` takes them; these tests check that what it wrote is
complete and that the README's table is the one it writes.
"""

from __future__ import annotations

import sys

import pytest
from chromium import VIEWPORTS
from example_emails import NAMES
from paths import ROOT
from PIL import Image

SCREENSHOTS = ROOT / "docs" / "screenshots"
# The script is no module of the package: reach it by its folder.
if str(SCREENSHOTS) not in sys.path:
    sys.path.insert(0, str(SCREENSHOTS))
import make_screenshots  # noqa: E402

MAX_BYTES = 80 * 1024  # each; the twelve stay near half a megabyte in the repository


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("name", NAMES)
def test_each_email_has_a_small_screenshot_at_each_width(name: str, width: int) -> None:
    png = SCREENSHOTS / make_screenshots.png_name(name, width)
    assert png.exists(), f"{png.name} is missing: run .venv/bin/python docs/screenshots/make_screenshots.py"
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.width == width
        assert 0 < image.height <= make_screenshots.MAX_HEIGHT
    assert png.stat().st_size <= MAX_BYTES


def test_the_readme_shows_every_screenshot() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert make_screenshots.readme_with_table(readme) == readme, (
        "README.md's screenshot table is out of date: run .venv/bin/python docs/screenshots/make_screenshots.py"
    )
    expected = {make_screenshots.png_name(name, width) for name in NAMES for width in VIEWPORTS}
    assert {png.name for png in SCREENSHOTS.glob("*.png")} == expected
    for png in expected:
        assert f"docs/screenshots/{png}" in readme
