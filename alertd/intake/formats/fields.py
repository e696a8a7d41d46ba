"""Reading untrusted feed documents: the accessors every format shares.

A feed's JSON is whatever its publisher (or an attacker in its place) wrote: a list where an object belongs, a
number where a string does, control characters, megabytes of text in a title. These accessors never raise:
what is not of the expected type reads as empty, and text is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

MAX_FIELD = 500  # characters kept of a cleaned value unless the caller says otherwise
MAX_URL = 2000  # characters of a link; a longer one is no reference an email should carry
MAX_SUMMARY = 800  # characters of an advisory's own text kept as its summary: a paragraph or two
# C0 and C1 controls and DEL: a terminal escape or a NUL in a title must not reach a log or an email.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The same, plus zero-width spaces and joiners, direction marks, line and paragraph separators and the BOM,
# which scraped text (leak sites) carries.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def mappings(value: Any) -> Iterator[dict[str, Any]]:
    """The objects of a JSON array, skipping anything else; nothing when ``value`` is no array."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def text(value: Any, limit: int | None = None, *, numbers: bool = False) -> str:
    """A string value without surrounding whitespace, cut to ``limit`` characters; ``""`` for anything else.

    With ``numbers``, an integer (not a boolean) reads as its digits, for publishers that write ``"42"`` and
    ``42`` alike.
    """
    if isinstance(value, str):
        return value.strip()[:limit]
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)[:limit]
    return ""


def clean(value: Any, limit: int = MAX_FIELD, *, invisible: bool = False) -> str:
    """A string value on one line: control characters (with ``invisible``, also zero-width characters and
    direction marks) and runs of whitespace folded to single spaces, cut to ``limit``; ``""`` for a non-string.

    Only the first ``4 × limit`` characters are read, so a hostile megabyte costs no more than a title.
    """
    if not isinstance(value, str):
        return ""
    pattern = _INVISIBLE if invisible else CONTROL
    return " ".join(pattern.sub(" ", value[: limit * 4]).split())[:limit]


def summary(value: Any, limit: int = MAX_SUMMARY) -> str:
    """An advisory's own text as its ``summary`` fact: on one line, without control or invisible characters (as
    :func:`clean` reads it, so no more than ``4 × limit`` characters are read), cut at a word boundary to
    ``limit`` characters with "…" where it was cut."""
    text = clean(value, limit * 4, invisible=True)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a word boundary not too far back; else a very long word is cut where it stands
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


def web_link(value: Any) -> str | None:
    """``value`` if it is an http(s) URL fit for a link in an email: a scheme and a host, no whitespace and no
    control character, :data:`MAX_URL` characters at most; None otherwise (``javascript:``, ``file:``...)."""
    if not isinstance(value, str) or len(value) > MAX_URL or CONTROL.search(value):
        return None
    if any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced "[" of an IPv6 host
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def one_line(value: str) -> str:
    """Runs of whitespace folded to single spaces, none at either end; other characters kept."""
    return " ".join(value.split())


__all__ = [
    "CONTROL",
    "MAX_FIELD",
    "MAX_SUMMARY",
    "MAX_URL",
    "clean",
    "items",
    "mapping",
    "mappings",
    "one_line",
    "summary",
    "text",
    "web_link",
]
