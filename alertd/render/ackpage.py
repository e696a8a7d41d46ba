"""The acknowledgement page of one email (contract §4, "Acknowledgements"): what the email told, in its language
with its TLP marking, and one form per response; and the refusal pages, which say nothing of any establishment.

Pure: the page is rendered from values the web server read (the email's alerts, the responses recorded), through
the emails' Jinja2 environment (autoescaped, every word from the catalogs). The page carries no script and no
style attribute: its one ``<style>`` block is allowed by its hash in the Content-Security-Policy
(:func:`security_policy`), so nothing else on the page may style or run anything.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import jinja2

from alertd.domain.acknowledgement import COMMENT_MAX_CHARS, AckResponse
from alertd.domain.establishments import Establishment
from alertd.domain.settings import RenderSettings
from alertd.domain.values import Alert
from alertd.render.catalog import DEFAULT_LANGUAGE, LANGUAGES, words
from alertd.render.context import email_context
from alertd.render.environment import BULLETIN

PAGE = "ack.html.j2"
REFUSAL = "ack-refused.html.j2"
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
# What a refusal page says, by why (the catalogs' keys): a link that is no link, one past its expiry, too many
# requests, a form that did not come from the page.
REFUSED, EXPIRED, LIMITED, BAD_FORM = "ack.refused", "ack.expired", "ack.limited", "ack.bad-form"


def _words_of(key: str, lang: str) -> str:
    return words(lang).word(BULLETIN, key)


def response_label(response: AckResponse, lang: str) -> str:
    """A response in the page's language ("Pris en compte")."""
    return _words_of(f"ack.{response.value}", lang)


def ack_page(
    env: jinja2.Environment,
    est: Establishment,
    alerts: Sequence[Alert],
    settings: RenderSettings,
    *,
    reference: str,
    sent: datetime,
    language: str | None,
    form_token: str,
    responses: Sequence[tuple[datetime, AckResponse]] = (),
    thanks: AckResponse | None = None,
) -> str:
    """The page of one email: its header (reference, date, TLP), its summary lines, the responses received, and
    the four forms. ``language`` is the email's (its Content-Language), else the establishment's."""
    lang = language if language in LANGUAGES else est.language
    context = email_context(replace(est, language=lang), alerts, settings, sent, reference=reference)
    lang = context["lang"]
    w = words(lang)
    page: dict[str, Any] = {
        **context,
        "form_token": form_token,
        "comment_max": COMMENT_MAX_CHARS,
        "responses": [
            {"key": r.value, "label": response_label(r, lang), "comment": r is AckResponse.NOT_US} for r in AckResponse
        ],
        "received": [
            {"date": w.moment(at, settings.timezone), "label": response_label(r, lang)} for at, r in responses
        ],
        "thanks": response_label(thanks, lang) if thanks is not None else None,
    }
    return env.select_template([f"{lang}/{PAGE}", PAGE]).render(page)


def refusal_page(env: jinja2.Environment, why: str, organisation: str) -> str:
    """A page that refuses, in French then English (the link gave no language to trust): nothing of any
    establishment or email."""
    said = [{"lang": lang, "text": _words_of(why, lang)} for lang in (LANGUAGES[0], DEFAULT_LANGUAGE)]
    return env.get_template(REFUSAL).render({"lang": LANGUAGES[0], "said": said, "organisation": organisation})


def security_policy(html: str) -> str:
    """The Content-Security-Policy of a page: nothing loads, runs or frames it; its forms post to itself; its
    ``<style>`` blocks, as rendered, are allowed by their SHA-256."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.group(1).encode('utf-8')).digest()).decode()}'"
        for m in _STYLE.finditer(html)
    )
    style = f"; style-src {hashes}" if hashes else ""
    return f"default-src 'none'{style}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
