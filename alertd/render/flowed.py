"""The plain-text part as ``format=flowed`` text (RFC 3676): paragraphs wrapped at 72 columns with soft breaks.

A line that ends with a space is a soft break: a reader that knows format=flowed joins it with the next one and
re-wraps the paragraph to its window; any other reader shows the lines as they are, none longer than 72 columns
but for a single token (a long URL) that cannot be cut.
"""

from __future__ import annotations

WIDTH = 72


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` wrapped as format=flowed at ``width`` columns."""
    # TODO(#12): wrap paragraphs with soft breaks, keep tokens whole, space-stuff lines (RFC 3676 §4).
    return text
