"""What an advisory is about, read from its own words: a phishing or impersonation campaign calls for awareness
steps, not patches (:class:`~alertd.domain.codes.AdvisoryTopic`).

The classifier is plain substring tests over the title and summary, cut to :data:`MAX_TEXT` characters first,
case-folded and stripped of accents ("Hameçonnage" reads "hameconnage"): linear in that bounded text whatever a
feed sends, with no regular expression to backtrack. French and English, as the advisories alertd reads are.
"""

from __future__ import annotations

import unicodedata

from alertd.domain.codes import AdvisoryTopic

MAX_TEXT = 800  # characters of the title and of the summary read: an advisory says what it is about early

# Words that name a phishing or impersonation campaign whatever else the text says.
_PHISHING = (
    "hameconnage",
    "hameconne",  # hameçonner, hameçonné(e)s
    "filoutage",
    "phishing",  # spear-phishing, phishing kit
    "smishing",
    "vishing",
    "se fait passer pour",
    "se font passer pour",
    "se faisant passer pour",
    "se faire passer pour",
    "faux courriel",
    "faux e-mail",
    "faux mail",
    "faux message",
    "faux sms",
    "courriels frauduleux",
    "courriel frauduleux",
    "messages frauduleux",
    "fraude au president",
    "impersonat",  # impersonate, impersonating, impersonation
    "pretending to be",
    "pretend to be",
    "fake email",
    "fraudulent email",
    "credential harvesting",
)
# Words that name impersonation only outside a vulnerability advisory: CERT-FR lists "usurpation d'identité" among
# the risks of most product advisories, and browsers' CVEs are often "UI spoofing".
_IMPERSONATION = ("usurp", "spoof")
_VULNERABILITY = ("vulnerabilit", "cve-")


def fold(text: str) -> str:
    """``text`` case-folded, without accents, its whitespace runs made single spaces: the form the words above
    are compared in."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.replace("\u2019", "'").split())


def classify(title: str, summary: str | None = None) -> AdvisoryTopic | None:
    """The topic of an advisory from its title and summary (each read up to :data:`MAX_TEXT` characters); None
    when it is about nothing this module knows (a product's vulnerabilities)."""
    text = fold(f"{title[:MAX_TEXT]} {(summary or '')[:MAX_TEXT]}")
    if any(word in text for word in _PHISHING):
        return AdvisoryTopic.PHISHING
    if any(word in text for word in _IMPERSONATION) and not any(word in text for word in _VULNERABILITY):
        return AdvisoryTopic.PHISHING
    return None
