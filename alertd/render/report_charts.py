"""The report's charts: bar charts drawn by matplotlib as SVG, to be inlined in the report's page.

matplotlib's SVG backend alone is used (a :class:`~matplotlib.figure.Figure`, never pyplot's global state), with
``svg.fonttype: path``: letters are drawn as paths, so the page needs no font and looks the same everywhere. The
SVG keeps no date, no metadata and fixed ids, so the same figures give the same page. Pure: values in, text out.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_RC: dict[str, Any] = {
    "svg.fonttype": "path",  # no font needed to show the page
    "text.parse_math": False,  # a label is text as written: "$" starts no formula
    "svg.hashsalt": "alertd-report",  # the same ids each time
    "font.family": "DejaVu Sans",  # shipped with matplotlib
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
CURRENT, PREVIOUS = "#1f4e79", "#a9c4de"  # dark and light blue: told apart in grey print too
_WIDTH_INCHES = 6.3  # about the width of an A4 page's text
# What precedes the <svg> element in matplotlib's file (XML declaration, doctype, comments): not for inline SVG.
_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
# The root's namespace declarations: HTML's parser puts inline SVG in its namespace without them.
_NAMESPACES = re.compile(r' xmlns(?::xlink)?="[^"]*"')


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element to inline in HTML."""
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _PROLOGUE.sub("", out.getvalue(), count=1), count=1)
    head, _, rest = svg.partition(">")
    return _NAMESPACES.sub("", head) + ' role="img">' + rest


def bar_chart(
    labels: Sequence[str],
    values: Sequence[int],
    number: Callable[[float], str],
    *,
    previous: Sequence[int] | None = None,
    legend: tuple[str, str] | None = None,
    horizontal: bool = True,
    title: str = "",
) -> str:
    """A bar chart of ``values`` by ``labels`` as inline SVG: horizontal bars, largest on top, or vertical ones (a
    month each) with ``previous`` beside each; ``number`` writes the axis' figures in the reader's language."""
    # Imported when a chart is drawn: matplotlib takes 0.4 s to import, which every other command (and the
    # daemon's start, whose command line imports this module) would pay for nothing.
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    with mpl.rc_context(_RC):  # type: ignore[arg-type]  # matplotlib types rc keys as a Literal
        rows = len(labels)
        height = max(1.6, 0.32 * rows + 0.8) if horizontal else 2.8
        fig = Figure(figsize=(_WIDTH_INCHES, height))
        ax = fig.add_subplot()
        positions = list(range(rows))
        if horizontal:
            ax.barh(positions, values, color=CURRENT, height=0.6)
            ax.set_yticks(positions, labels)
            ax.invert_yaxis()
            axis: Any = ax.xaxis
        else:
            width = 0.4 if previous is not None else 0.7
            shift = width / 2 if previous is not None else 0.0
            ax.bar(
                [p + shift for p in positions], values, width=width, color=CURRENT, label=legend[0] if legend else None
            )
            if previous is not None:
                ax.bar(
                    [p - shift for p in positions],
                    previous,
                    width=width,
                    color=PREVIOUS,
                    label=legend[1] if legend else None,
                )
                ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(0, 1.18), ncols=2)
            ax.set_xticks(positions, labels, rotation=45 if rows > 6 else 0, ha="right" if rows > 6 else "center")
            axis = ax.yaxis
        axis.set_major_locator(MaxNLocator(integer=True))
        axis.set_major_formatter(FuncFormatter(lambda x, _pos: number(x)))
        if title:
            ax.set_title(title, loc="left")
        return _svg(fig)
