"""French typography for the words of the catalogs: the spaces that French puts inside its punctuation.

French sets a no-break space (U+00A0) before a colon and inside guillemets (« … »), and a narrow no-break space
(U+202F) before ``;``, ``?`` and ``!`` (Lexique des règles typographiques en usage à l'Imprimerie nationale; the
narrow one is what current French software, and Unicode's CLDR, use for the "fine" space). A no-break space keeps
the mark on the line of the word it follows, in the HTML part as in the wrapped text part.

Applied to a catalog's messages as they are read, never to the values filled in later (a title, a URL, a feed's
English), so a source's text is shown as the source wrote it. Only punctuation is touched: a mark is one when it
ends a clause (followed by a space, a closing mark or the end of the message), so the colon of a URL
(``https://``), of a time (``08:30``) or of a code (``TLP:AMBER``) is left alone. A space already there becomes the
right one: no space is ever doubled.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"  # espace insécable: before ":" and inside « »
NNBSP = "\u202f"  # espace fine insécable: before ";" "?" "!"
_ANY_SPACE = " \u00a0\u202f"
# A mark that ends a clause: after a word (not at the start), followed by a space, a closing mark or the end.
_COLON = re.compile(rf"(\S)[{_ANY_SPACE}]?:(?=[\s»)]|$)")
_HIGH_MARK = re.compile(rf"(\S)[{_ANY_SPACE}]?([;?!])(?=[\s»)]|$)")
_OPENING = re.compile(rf"«[{_ANY_SPACE}]?")
_CLOSING = re.compile(rf"[{_ANY_SPACE}]?»")


def french(text: str) -> str:
    """``text`` with French spacing: U+00A0 before ":" and inside « », U+202F before ";" "?" "!"."""
    text = _COLON.sub(lambda m: m.group(1) + NBSP + ":", text)
    text = _HIGH_MARK.sub(lambda m: m.group(1) + NNBSP + m.group(2), text)
    text = _OPENING.sub("«" + NBSP, text)
    return _CLOSING.sub(NBSP + "»", text)


def plain(text: str) -> str:
    """``text`` as it is: the typography of a language that puts no space before its punctuation (English)."""
    return text


# The typography a catalog asks for, by the name its message ``typography``/``punctuation`` gives.
STYLES = {"french": french, "plain": plain}
