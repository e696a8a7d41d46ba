"""Take the README's screenshots of the acknowledgement page, as headless Chromium shows it at 900 px and 400 px.

    .venv/bin/python docs/screenshots/ack_page.py

renders the page of the "grouped" example email (``templates/examples/render_examples.py``: an imminent
compromise and seven KEV entries) with one response already received and the answer "faux positif" just
recorded, as :mod:`alertd.render.ackpage` renders it for the web server, and writes ``ack/page-900.png`` and
``ack/page-400.png`` next to this script (in the palette of ``make_screenshots.py``). Needs Debian's chromium.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(HERE), str(ROOT / "templates" / "examples")]
import make_screenshots  # noqa: E402
import render_examples  # noqa: E402
from chromium import VIEWPORTS, chromium, show  # noqa: E402

from alertd.domain.acknowledgement import AckResponse  # noqa: E402
from alertd.render.ackpage import ack_page  # noqa: E402
from alertd.render.environment import make_environment  # noqa: E402

OUT = HERE / "ack"


def page_html() -> str:
    """The page of the grouped example, one response received before, the "faux positif" answer just recorded."""
    return ack_page(
        make_environment(None),
        render_examples.ESTABLISHMENT,
        render_examples.alerts()["grouped"],
        render_examples.settings().render,
        reference="CERTSANTE-2024-ALE-0042",
        sent=render_examples.NOW,
        language="fr",
        form_token="example",  # noqa: S106 - no secret: the screenshot posts nothing
        responses=[
            (render_examples.NOW + timedelta(minutes=40), AckResponse.SEEN),
            (render_examples.NOW + timedelta(hours=3), AckResponse.NOT_US),
        ],
        thanks=AckResponse.NOT_US,
    )


def main() -> int:
    """Write both screenshots; print each file written."""
    OUT.mkdir(exist_ok=True)
    html = page_html()
    with tempfile.TemporaryDirectory(prefix="alertd-ack-shots-") as tmp, chromium() as browser:
        for width, height in VIEWPORTS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            show(page, html, Path(tmp) / "page.html")
            target = OUT / f"page-{width}.png"
            target.write_bytes(make_screenshots.top_of(page, width))
            print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")
            page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
