"""What an establishment answers to a warning, through the personal link the email carries (contract §4).

Codes only: the page puts them into the establishment's language (``ack`` context of the catalogs).
"""

from __future__ import annotations

import enum


class AckResponse(enum.StrEnum):
    """One answer to one email; the values are what the page's forms post and the store keeps."""

    SEEN = "seen"  # « pris en compte »: someone read it and acts on it
    FIXED = "fixed"  # « corrigé »
    NOT_US = "not-us"  # « faux positif / pas chez nous », with a comment
    NEED_HELP = "need-help"  # « besoin d'aide »: the CERT should call


# A comment is kept to this many characters (after control characters are stripped): enough for "this address
# is our guest Wi-Fi's, not a server", little enough that the page cannot be used to store files.
COMMENT_MAX_CHARS = 2000


class Decision(enum.StrEnum):
    """What the operator did with an inhibition a "not us" response proposed (``alertd inhibitions``)."""

    ACCEPTED = "accepted"  # written into inhibitions.yaml
    REJECTED = "rejected"
