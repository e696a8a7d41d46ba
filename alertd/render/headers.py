"""Headers: one clean line per header, a Subject folded so that it reads back as rendered, MIME boundaries.

Everything that came from a feed is untrusted: control characters, line separators, bidirectional overrides and
invisible format characters never reach a header.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Sequence
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.policy import SMTP, Policy
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029"
    # bidirectional embeddings, overrides and isolates: they make a subject read differently from what it says
    "\u202a-\u202e\u2066-\u2069]"
)


def strip_invisible(text: str) -> str:
    """``text`` without its invisible format characters (Unicode category Cf): LRM/RLM/ALM, zero-width spaces
    and joiners, the word joiner, BOM, soft hyphen, bidirectional embeddings and isolates, tag characters.

    They make a subject or a name read differently from what it says (a ZWSP hides a word from a filter, an RLM
    reorders what follows). Linear in the text: a table of the distinct characters found, then one translate.
    """
    if text.isascii():
        return text
    drop = {ord(c): None for c in set(text) if not c.isascii() and unicodedata.category(c) == "Cf"}
    return text.translate(drop) if drop else text


def clean_header(text: str, limit: int = 200) -> str:
    """One line fit for a header: control and invisible characters removed, whitespace collapsed, at most
    ``limit`` chars.

    C0, DEL, C1 (including U+0085), the line and paragraph separators U+2028/U+2029 and bidirectional overrides
    become a space; the other invisible format characters (:func:`strip_invisible`) go; a longer text is cut and
    ends with "…".
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    line = " ".join(strip_invisible(CONTROL.sub(" ", text)).split())
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


@lru_cache(maxsize=64)
def address_parts(text: str) -> tuple[str, str]:
    """``parseaddr(text)``: (display name, address), parsed once per distinct value (the sender's From and
    Reply-To are the same in every email)."""
    return parseaddr(text)


@lru_cache(maxsize=64)
def clean_address(text: str) -> str:
    """A From or Reply-To value (``Name <address>``) whose display name is cleaned as :func:`clean_header` does;
    returned unchanged when there was nothing to clean."""
    name, address = address_parts(text)
    cleaned = clean_header(name)
    if cleaned == name or not address:
        return text
    return str(Address(display_name=cleaned, addr_spec=address)) if cleaned else address


class _Subject(UnstructuredHeader, BaseHeader):
    """A Subject folded only where a fold decodes to exactly one space, so that it reads as it was rendered.

    Python's folder can leave a space at the end of a line before an encoded-word, and unfolding then shows two
    ("Garonne  —"). Here ASCII words stay as they are and each run of words that need encoding becomes
    encoded-words of whole characters; a fold replaces one separating space, or falls between two encoded-words
    of the same run, where folding white space is not part of the text (RFC 2047 §6.2).
    """

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        """Keep the text as rendered: an "=?...?=" from a feed is text here, not an encoded-word to decode."""
        super().parse(value, kwds)
        kwds["decoded"] = value

    def fold(self, *, policy: Policy) -> str:
        """``Subject: ...`` with its line separator, lines within ``policy.max_line_length`` where words allow."""
        return fold_subject(self.name, str(self), policy.max_line_length or 78, policy.linesep)


_Q_SAFE = frozenset(string.ascii_letters + string.digits + "!*+-/")
_EW_OPEN, _EW_CLOSE = "=?utf-8?q?", "?="
_EW_MAX = 75  # RFC 2047 §2
_EW_MIN_ROOM = len(_EW_OPEN) + len(_EW_CLOSE) + 12  # less room than this left on a line: start a new one


def _q(char: str) -> str:
    if char == " ":
        return "_"
    if char in _Q_SAFE:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8"))


def _encoded_words(text: str, *, first: int, rest: int) -> list[str]:
    """``text`` as Q encoded-words of whole characters, the first fitting in ``first`` columns, the others ``rest``."""
    words: list[str] = []
    room = min(first, _EW_MAX) - len(_EW_OPEN) - len(_EW_CLOSE)
    current = ""
    for char in text:
        piece = _q(char)
        if current and len(current) + len(piece) > room:
            words.append(_EW_OPEN + current + _EW_CLOSE)
            current = ""
            room = min(rest, _EW_MAX) - len(_EW_OPEN) - len(_EW_CLOSE)
        current += piece
    words.append(_EW_OPEN + current + _EW_CLOSE)
    return words


def _runs(text: str) -> list[tuple[str, bool]]:
    """The words of ``text``, consecutive words that need encoding joined into one run: (text, encode)."""
    runs: list[tuple[str, bool]] = []
    for word in text.split(" "):
        # A word that looks like an encoded-word is encoded too, or a reader would decode it.
        encode = not word.isascii() or "=?" in word
        if encode and runs and runs[-1][1]:
            runs[-1] = (runs[-1][0] + " " + word, True)
        else:
            runs.append((word, encode))
    return runs


def fold_subject(name: str, text: str, limit: int = 78, linesep: str = "\r\n") -> str:
    """``name: text`` folded for the wire so that unfolding and decoding gives back ``text`` exactly.

    Lines stay within ``limit`` unless a single ASCII word is longer; encoded-words stay within 75 characters.
    """
    out = f"{name}:"
    column = len(out)
    for run, encode in _runs(text):
        if not encode:
            if column + 1 + len(run) > limit and column > len(name) + 1:
                out, column = out + linesep, 0
            out, column = out + " " + run, column + 1 + len(run)
            continue
        if limit - column - 1 < _EW_MIN_ROOM:
            out, column = out + linesep, 0
        words = _encoded_words(run, first=limit - column - 1, rest=limit - 1)
        out, column = out + " " + words[0], column + 1 + len(words[0])
        for word in words[1:]:
            out, column = out + linesep + " " + word, 1 + len(word)
    return out + linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("subject", _Subject)
# For building emails only: its Subject keeps "=?...?=" as text, so a message parsed with it would not decode one.
EMAIL_POLICY = SMTP.clone(header_factory=_HEADERS)  # SMTP's (CRLF, lines of 78), with a Subject that folds cleanly


def boundary(message_id: str, parts: Sequence[str], salt: str = "") -> str:
    """A MIME boundary derived from the Message-ID (and ``salt``) that occurs in none of ``parts``."""
    # Random boundaries would make retries differ byte for byte; "=_" never occurs in quoted-printable text.
    digest = hashlib.sha256((salt + message_id).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    chosen = f"=_alertd_{salt}{digest}"
    counter = 0
    while any(chosen in part for part in parts):
        counter += 1
        chosen = f"=_alertd_{salt}{digest}_{counter}"
    return chosen
