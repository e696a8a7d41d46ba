"""One headless Chromium for the browser tests and the README's screenshots, and what they measure in a page.

Debian's ``chromium`` (``.ci/run`` installs it where missing), driven by Playwright for Python: its wheel carries
its own driver, so the test extras install everything but the browser, and it never downloads a browser of its
own since it is given ``executable_path``. Playwright starts Chromium with a fresh temporary profile each time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# Run as root with no network but loopback: without a sandbox, GPU or QUIC, and with none of the background
# connections (updates, sync, field trials) that a closed network refuses, many at a time.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# The viewports looked at, width → height: a desktop mail client's reading pane and a phone. The height is "the
# first screen", where the summary must be.
VIEWPORTS: dict[int, int] = {900: 900, 400: 800}
MISSING = (
    "Chromium is not installed: the browser tests drive Debian's chromium (/usr/bin/chromium). "
    "`bash .ci/run` installs it where missing; by hand: apt-get install chromium fonts-liberation"
)


class ChromiumMissingError(RuntimeError):
    """No Chromium to drive on this machine."""


def chromium_path() -> str:
    """The Chromium binary to drive; raises ChromiumMissingError saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise ChromiumMissingError(MISSING)
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on exit."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=list(FLAGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_or_fail() -> Iterator[Browser]:
    """:func:`chromium` for a test module: the tests fail, not skip, where Chromium is not installed."""
    try:
        chromium_path()
    except ChromiumMissingError as missing:
        pytest.fail(str(missing), pytrace=False)
    with chromium() as browser:
        yield browser


def show(page: Page, html: str, path: Path) -> None:
    """Write ``html`` to ``path`` and load it as a file:// page, as a mail client shows a message on its own."""
    path.write_text(html, encoding="utf-8")
    page.goto(path.resolve().as_uri(), wait_until="load")


# One pass over the page: everything the tests check, measured where the browser laid it out.
_MEASURE = r"""
() => {
  const width = window.innerWidth;
  const describe = (e) => {
    const names = typeof e.className === "string" ? e.className.trim() : "";
    const classes = names ? "." + names.split(/\s+/).join(".") : "";
    const text = (e.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + classes + (text ? ` "${text}"` : "");
  };
  const overflowing = [];
  for (const e of document.body.querySelectorAll("*")) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.right > width + 0.5) {
      overflowing.push(`${describe(e)} ends at ${Math.round(r.right)} px`);
    }
  }
  const summary = document.getElementById("summary");
  const pairs = [];
  for (const label of document.querySelectorAll(".label")) {
    const value = label.nextElementSibling;
    if (!value || !value.classList.contains("value")) continue;
    const l = label.getBoundingClientRect(), v = value.getBoundingClientRect();
    pairs.push({label: label.textContent.trim(), stacked: v.top >= l.bottom - 0.5});
  }
  // Where the browser broke an indicator's text across lines: the characters either side of each break.
  const indicators = [];
  for (const e of document.querySelectorAll("code, .indicator")) {
    const breaks = [];
    let previous = null, top = null;
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rects = range.getClientRects();
        if (rects.length === 0) continue;
        const here = rects[0].top;
        if (top !== null && here > top + 1) breaks.push([previous, node.data[i]]);
        previous = node.data[i];
        top = here;
      }
    }
    indicators.push({text: e.textContent, lines: e.getClientRects().length, breaks: breaks});
  }
  return {
    innerWidth: width,
    innerHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    overflowing: overflowing,
    summaryTop: summary ? summary.getBoundingClientRect().top + window.scrollY : null,
    pairs: pairs,
    indicators: indicators,
  };
}
"""

# An indicator may break at a space (a name) or, for a long URL, after one of these: never inside a token.
BREAKS_AFTER = frozenset(" /?&=\u200b")


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator element as laid out: its text, its line boxes, and the characters around each line break."""

    text: str
    lines: int
    breaks: tuple[tuple[str, str], ...]

    def split_inside_a_token(self) -> bool:
        """Whether a line break falls inside a token (not at a space, nor after / ? & =)."""
        return any(before not in BREAKS_AFTER and not after.isspace() for before, after in self.breaks)


@dataclass(frozen=True, slots=True)
class Layout:
    """What one email looks like in one viewport."""

    inner_width: int
    inner_height: int
    scroll_width: int
    scroll_height: int
    overflowing: tuple[str, ...]  # elements whose right edge passes the viewport
    summary_top: float | None  # the top of #summary in the page, None without one
    pairs: tuple[tuple[str, bool], ...]  # each label/value pair: its label, and whether the value is below it
    indicators: tuple[Indicator, ...]


def measure(page: Page) -> Layout:
    """Measure the page loaded in ``page``."""
    raw: dict[str, Any] = page.evaluate(_MEASURE)
    return Layout(
        inner_width=int(raw["innerWidth"]),
        inner_height=int(raw["innerHeight"]),
        scroll_width=int(raw["scrollWidth"]),
        scroll_height=int(raw["scrollHeight"]),
        overflowing=tuple(str(o) for o in raw["overflowing"]),
        summary_top=None if raw["summaryTop"] is None else float(raw["summaryTop"]),
        pairs=tuple((str(p["label"]), bool(p["stacked"])) for p in raw["pairs"]),
        indicators=tuple(
            Indicator(str(i["text"]), int(i["lines"]), tuple((str(b), str(a)) for b, a in i["breaks"]))
            for i in raw["indicators"]
        ),
    )
