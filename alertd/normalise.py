"""Text normalisation shared by the registry index and the scanners: names and products compare as tokens.

"Centre Hospitalier d'Arles", "CENTRE-HOSPITALIER D ARLES" and "Centre hospitalier d’Arles" all become
``("centre", "hospitalier", "d", "arles")``; "St-Joseph" and "Saint Joseph" both become ``("saint", "joseph")``.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_EXPAND = {"st": "saint", "ste": "sainte", "chu": "chu", "&": "et"}
_COMPANY_SUFFIXES = frozenset(
    {"inc", "corp", "corporation", "ltd", "llc", "gmbh", "co", "sa", "sas", "ag", "plc", "the"}
)


def fold(text: str) -> str:
    """Lower-case and strip accents: ``"Hôpital"`` → ``"hopital"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> tuple[str, ...]:
    """Words of ``text``, accent-, case- and punctuation-insensitive, with ``St``/``Ste`` spelled out."""
    return tuple(_EXPAND.get(word, word) for word in _NON_WORD.split(fold(text)) if word)


def product_tokens(text: str) -> tuple[str, ...]:
    """Tokens of a vendor or product name, without company suffixes (``Citrix Systems, Inc.`` → citrix systems)."""
    return tuple(word for word in tokens(text) if word not in _COMPANY_SUFFIXES)
