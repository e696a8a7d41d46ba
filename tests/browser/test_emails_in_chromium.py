"""The HTML part of each example email, laid out by headless Chromium at 900 px (a desktop mail client's reading
pane) and 400 px (a phone): no horizontal scrolling, the summary in the first screen, label/value pairs stacked
on a phone, and no indicator split inside a token.

One Chromium for this module (the only one that drives it), one browsing context per viewport; each email is
loaded and measured once per viewport, and the tests read the measurement. The browser is closed at the module's
end, not the session's: while it is open, Playwright's sync API keeps an asyncio loop running in the main thread,
and ``asyncio.run()`` in the tests after it would fail. A missing Chromium fails the tests (``.ci/run`` installs
it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chromium import VIEWPORTS, ChromiumMissingError, Layout, chromium_or_fail, chromium_path, measure, show
from example_emails import NAMES, examples
from playwright.sync_api import Browser, BrowserContext

Look = Callable[[str, int], Layout]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The module's headless Chromium; the tests fail, not skip, where it is not installed."""
    with chromium_or_fail() as started:
        yield started


@pytest.fixture(scope="module")
def look(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Look]:
    """``look(name, width)``: the layout of that example email at that viewport width, measured once."""
    folder: Path = tmp_path_factory.mktemp("emails")
    emails = examples()
    contexts: dict[int, BrowserContext] = {}
    measured: dict[tuple[str, int], Layout] = {}

    def layout(name: str, width: int) -> Layout:
        if (name, width) not in measured:
            if width not in contexts:
                contexts[width] = browser.new_context(viewport={"width": width, "height": VIEWPORTS[width]})
                contexts[width].new_page()
            page = contexts[width].pages[0]
            show(page, emails[name].html, folder / f"{name}.html")
            measured[name, width] = measure(page)
        return measured[name, width]

    yield layout
    for context in contexts.values():
        context.close()


def _cases() -> list[object]:
    """Every (width, email) pair."""
    return [pytest.param(width, name, id=f"{width}-{name}") for width in VIEWPORTS for name in NAMES]


@pytest.mark.parametrize(("width", "name"), _cases())
def test_nothing_scrolls_sideways(look: Look, width: int, name: str) -> None:
    layout = look(name, width)
    page_width, past_the_edge = layout.scroll_width, layout.overflowing
    assert layout.inner_width == width
    assert page_width <= width, f"the page is {page_width} px wide in {width} px; past the edge: {past_the_edge[-5:]}"
    assert not past_the_edge, f"elements past the right edge at {width} px: {past_the_edge[-5:]}"


@pytest.mark.parametrize(("width", "name"), _cases())
def test_the_summary_table_is_in_the_first_screen(look: Look, width: int, name: str) -> None:
    layout = look(name, width)
    assert layout.summary_top is not None, "no element with id='summary'"
    assert layout.summary_top < layout.inner_height, (
        f"#summary starts at {layout.summary_top:.0f} px, below the first screen ({layout.inner_height} px)"
    )


@pytest.mark.parametrize("name", NAMES)
def test_labels_and_values_stack_on_a_phone(look: Look, name: str) -> None:
    layout = look(name, 400)
    assert layout.pairs, "no label/value pair (class='label' followed by class='value') to check"
    side_by_side = [label for label, stacked in layout.pairs if not stacked]
    assert not side_by_side, f"at 400 px these values sit beside their label, not below it: {side_by_side[:5]}"


@pytest.mark.parametrize(("width", "name"), _cases())
def test_no_indicator_is_split_inside_a_token(look: Look, width: int, name: str) -> None:
    layout = look(name, width)
    assert layout.indicators, "no indicator (code or .indicator element) to check"
    split = [(i.text, i.breaks) for i in layout.indicators if i.split_inside_a_token()]
    assert not split, f"indicators broken inside a token at {width} px (text, [(before, after) each break]): {split}"


def test_the_checks_see_what_they_look_for(browser: Browser, tmp_path: Path) -> None:
    """The measurement itself: a page that overflows, splits a token and stacks a pair is seen to do so."""
    page = browser.new_page(viewport={"width": 400, "height": 800})
    try:
        show(
            page,
            '<!DOCTYPE html><html><body style="margin:0">'
            '<table id="summary"><tr><td class="label">Side</td><td class="value">by side</td></tr></table>'
            '<div><span class="label" style="display:block">Stacked</span><span class="value">below</span></div>'
            '<p style="width:120px"><code style="word-break:break-all">84[.]247[.]157[.]112[.]84[.]247</code></p>'
            '<p style="width:200px"><code class="indicator">hxxp://a/b?c=d</code></p>'
            '<div style="width:600px">wide</div></body></html>',
            tmp_path / "check.html",
        )
        layout = measure(page)
    finally:
        page.close()
    assert layout.scroll_width == 600 and any(o.startswith('div "wide"') for o in layout.overflowing)
    assert layout.summary_top is not None and layout.summary_top < 100
    assert layout.pairs == (("Side", False), ("Stacked", True))
    broken, url = layout.indicators
    assert broken.lines > 1 and broken.split_inside_a_token()
    assert url.lines == 1 and not url.split_inside_a_token()


def test_without_chromium_the_tests_fail_saying_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chromium.shutil.which", lambda name: None)
    with pytest.raises(ChromiumMissingError, match=r"\.ci/run` installs it"):
        chromium_path()
