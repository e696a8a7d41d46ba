"""Secrets kept out of every text alertd shows: logs, stored errors (``last_error``), ``/healthz``, notices.

A server may echo what it was sent: a relay's ``535`` reply can quote the base64 of ``AUTH LOGIN``'s password or
of ``AUTH PLAIN``'s ``\\0user\\0password``; a proxy or a URL may carry it percent-encoded; a debug dump may show
it in hex. :class:`Redactor` masks the secret in each of these forms, not only as typed.
"""

from __future__ import annotations

import base64
import json
import re

MASK = "***"

# A run of base64 (standard or URL-safe alphabet): the unit masked when a secret's base64 occurs inside it, since
# the characters at its edges carry bits of the secret mixed with its neighbours'.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+=*")
# Shorter stretches of base64 are too likely to occur by chance in an ordinary word.
_MIN_BASE64 = 4
# Where a secret's own bytes start being encoded on their own, for each alignment (0, 1, 2 bytes before it).
_FIRST_OWN_CHAR = (0, 2, 3)


def _hex_class(char: str) -> str:
    return f"[{char.lower()}{char.upper()}]" if char.isalpha() else char


def _percent_or_plain(char: str) -> str:
    """A regex for ``char`` as typed or percent-encoded (either hex case; ``+`` for a space, as forms write it)."""
    encoded = "".join("%" + "".join(_hex_class(h) for h in f"{byte:02X}") for byte in char.encode("utf-8"))
    options = [re.escape(char), encoded] + ([r"\+"] if char == " " else [])
    return "(?:" + "|".join(options) + ")"


def _base64_forms(secret: bytes, blobs: tuple[bytes, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """(whole encodings of ``blobs``, stretches of base64 that only ``secret`` determines, at each alignment)."""
    whole = {base64.b64encode(blob).decode("ascii").rstrip("=") for blob in blobs}
    parts: set[str] = set()
    for before in range(3):
        encoded = base64.b64encode(b"\0" * before + secret).decode("ascii")
        own = encoded[_FIRST_OWN_CHAR[before] : (8 * (before + len(secret))) // 6]
        if len(own) >= _MIN_BASE64:
            parts.add(own)
    url_safe = str.maketrans("+/", "-_")
    return (
        frozenset(whole | {w.translate(url_safe) for w in whole}),
        frozenset(parts | {p.translate(url_safe) for p in parts}),
    )


class Redactor:
    """Masks one secret (e.g. the SMTP password) as typed, quoted, percent-encoded, in hex and in base64.

    ``username`` adds the ``AUTH PLAIN`` forms (``\\0user\\0password`` and ``user\\0user\\0password``), whose base64
    does not contain the password's own. An empty secret masks nothing.
    """

    def __init__(self, secret: str | None, *, username: str | None = None) -> None:
        self._pattern: re.Pattern[str] | None = None
        self._whole: frozenset[str] = frozenset()
        self._parts: frozenset[str] = frozenset()
        if not secret:
            return
        raw = secret.encode("utf-8")
        quoted = {repr(secret)[1:-1], json.dumps(secret)[1:-1]} - {secret}
        options = [
            "".join(_percent_or_plain(c) for c in secret),
            "".join(_hex_class(h) for h in raw.hex()),
            *(re.escape(q) for q in quoted),
        ]
        # Longest first: the alternation takes the first that matches at a position.
        self._pattern = re.compile("|".join(sorted(options, key=len, reverse=True)))
        blobs = [raw]
        if username:
            user = username.encode("utf-8")
            blobs += [b"\0" + user + b"\0" + raw, user + b"\0" + user + b"\0" + raw]
        self._whole, self._parts = _base64_forms(raw, tuple(blobs))

    def __call__(self, text: str) -> str:
        """``text`` with every form of the secret replaced by ``***``."""
        if self._pattern is None:
            return text
        text = self._pattern.sub(MASK, text)
        return _BASE64_RUN.sub(self._mask_run, text)

    def _mask_run(self, found: re.Match[str]) -> str:
        run = found.group()
        if run.rstrip("=") in self._whole or any(part in run for part in self._parts):
            return MASK
        return run


__all__ = ["MASK", "Redactor"]
