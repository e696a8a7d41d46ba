"""Take the README's screenshots: each example email as headless Chromium shows it at 900 px and 400 px.

    .venv/bin/python docs/screenshots/make_screenshots.py

renders the emails the browser tests check (``tests/browser/example_emails.py``), writes ``NAME-900.png`` and
``NAME-400.png`` next to this script (the first 1,600 px of the page, in a 32-colour palette to keep each near
40 KB), and rewrites the README's table of them. ``tests/browser/test_screenshots.py`` checks that every
screenshot is there and that the README's table is the one this script writes. Needs Debian's chromium.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
README = ROOT / "README.md"
# The browser tests' own helpers: the same emails, the same Chromium, the same viewports.
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "browser")]
from chromium import VIEWPORTS, chromium, show  # noqa: E402
from example_emails import NAMES, TITLES, examples  # noqa: E402

MAX_HEIGHT = 1600  # px of the page kept: the header, the summary and the first details
COLOURS = 32  # text on flat colours: a 32-colour palette reads the same and weighs a third of the full colour PNG
BEGIN = "<!-- screenshots: written by docs/screenshots/make_screenshots.py -->"
END = "<!-- /screenshots -->"


def png_name(name: str, width: int) -> str:
    """The file name of one screenshot."""
    return f"{name}-{width}.png"


def readme_table() -> str:
    """The README's table of screenshots, between its BEGIN and END markers: one row per email."""
    widths = list(VIEWPORTS)
    lines = [
        BEGIN,
        "| email | " + " | ".join(f"{width} px" for width in widths) + " |",
        "|---|" + "---|" * len(widths),
    ]
    for name in NAMES:
        cells = [
            f'<img src="docs/screenshots/{png_name(name, width)}" width="{width // 2}" '
            f'alt="{TITLES[name]}, {width} px wide">'
            for width in widths
        ]
        lines.append(f"| {TITLES[name]} | " + " | ".join(cells) + " |")
    lines.append(END)
    return "\n".join(lines)


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the markers replaced by :func:`readme_table`; ValueError without them."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {BEGIN} … {END} block")
    return readme[:start] + readme_table() + readme[end + len(END) :]


def optimised(png: bytes) -> bytes:
    """``png`` in a palette of COLOURS colours, without dithering (it would blur the text), compressed hard."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    palette = image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def top_of(page: Page, width: int) -> bytes:
    """The top of the page shown (at most MAX_HEIGHT px), as an optimised PNG."""
    page_height = int(page.evaluate("document.documentElement.scrollHeight"))
    png = page.screenshot(
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": min(page_height, MAX_HEIGHT)},
        animations="disabled",
    )
    return optimised(png)


def main() -> int:
    """Write every screenshot and the README's table; print each file written."""
    emails = examples()
    with tempfile.TemporaryDirectory(prefix="alertd-shots-") as tmp, chromium() as browser:
        for width, height in VIEWPORTS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            for name in NAMES:
                show(page, emails[name].html, Path(tmp) / f"{name}.html")
                target = HERE / png_name(name, width)
                target.write_bytes(top_of(page, width))
                print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")
            page.close()
    README.write_text(readme_with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(README.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
