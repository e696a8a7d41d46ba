"""The render stage's result: alerts for one establishment → one email, in its language (contract §4).

The email is ``multipart/mixed``: a ``multipart/alternative`` (a plain text complete on its own, and HTML whose
``<style>`` rules are inlined by css-inline), then the findings as ``findings.csv`` and ``findings.json``. Both
parts read as a CERT bulletin: a header (reference, date, TLP, establishment, highest level), a summary table
first, then the alerts grouped into blocks (:mod:`~alertd.render.bulletin`), within a size budget.

Pure: the only I/O is the Jinja2 loader reading templates (the CSS inliner never fetches a stylesheet), and the
time is passed in. Everything that came from a feed is untrusted: indicators are shown defanged
(:mod:`~alertd.render.defang`), headers are stripped of control characters (:mod:`~alertd.render.headers`), the
HTML part relies on autoescape (no feed string is ever marked safe), and a CSV cell that a spreadsheet would run
as a formula is neutralised (:mod:`~alertd.render.attachments`).
"""

from __future__ import annotations

import quopri
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from functools import lru_cache
from typing import Any, NamedTuple, ParamSpec

import jinja2

from alertd.domain.codes import Evidence
from alertd.domain.establishments import Establishment
from alertd.domain.settings import RenderSettings
from alertd.domain.values import Alert, Finding
from alertd.render import flowed, mime
from alertd.render.attachments import ATTACHMENTS, finding_records, findings_csv, findings_json
from alertd.render.catalog import words
from alertd.render.context import corrections_context, email_context, resolved_context
from alertd.render.environment import inline_css
from alertd.render.headers import boundary, clean_address, clean_header

HTML_BUDGET = 90_000  # bytes of the HTML part as sent (quoted-printable): Gmail cuts a message past ~102 KB
# Room kept under the message limit for the PGP/MIME signature wrapped around a signed email after rendering.
SIGNING_MARGIN = 16_384
LEFT_OUT_HEADER = "X-Alertd-Left-Out"
P = ParamSpec("P")
# Reads rendered bytes back as they were written: no header is refolded, so as_bytes() gives the same bytes.
AS_WRITTEN = SMTP.clone(refold_source="none")


@lru_cache(maxsize=64)
def _template(env: jinja2.Environment, lang: str, name: str) -> jinja2.Template:
    """The template ``name``: the operator's for this language (``fr/NAME``), else the operator's or the bundled.
    Chosen once per environment (its templates are read once): looking for ``fr/NAME`` again would ask the
    file system for each email."""
    return env.select_template([f"{lang}/{name}", name])


def html_size(html: str) -> int:
    """The bytes the HTML part takes in the message: UTF-8, quoted-printable as :func:`render_email` encodes it."""
    return len(quopri.encodestring(html.encode("utf-8")))


class _Bodies(NamedTuple):
    """The text and HTML parts, and the HTML's quoted-printable as measured for the budget (reused in the message
    where it gives the same bytes: :func:`~alertd.render.mime.quoted_printable`)."""

    text: str
    html: str
    html_encoded: bytes | None


NO_BODIES = _Bodies("", "", None)


def _bodies(env: jinja2.Environment, context: dict[str, Any]) -> _Bodies:
    """The text and HTML parts, within the size budget: every detail when it fits; else the summary alone (the
    details are in the attachments, the email says so); else the summary's most severe lines, saying how many
    more alerts the attachments hold. The text part follows the HTML part's choice."""
    lang = context["lang"]
    html_template = _template(env, lang, "alert.html.j2")
    text_template = _template(env, lang, "alert.txt.j2")

    def html_of(values: dict[str, Any]) -> tuple[str, bytes]:
        # Each candidate is encoded once: the loops below read its size up to three times, the message its bytes.
        html = inline_css(html_template.render(values))
        return html, quopri.encodestring(html.encode("utf-8"))  # html_size's measure

    groups = context["groups"]
    context = {**context, "detailed": len(groups)}
    html, encoded = html_of(context)
    detailed = len(groups)
    while len(encoded) > HTML_BUDGET and detailed > 1:
        # Keep the details of the most severe groups that fit; the others are told in the summary and attachments.
        # Groups differ in size: aim under the budget in proportion, then step down while still over.
        detailed = max(1, min(detailed - 1, int(detailed * HTML_BUDGET * 0.95 / len(encoded))))
        context = {**context, "detailed": detailed}
        html, encoded = html_of(context)
    if len(encoded) > HTML_BUDGET:
        context = {**context, "details": False}
        html, encoded = html_of(context)
        shown = len(groups)
        while len(encoded) > HTML_BUDGET and shown > 1:
            # Each line costs about the same: aim under the budget in proportion, then step down if still over.
            shown = max(1, min(shown - 1, int(shown * HTML_BUDGET * 0.95 / len(encoded))))
            hidden = sum(g["count"] for g in groups[shown:])
            context = {**context, "summary_lines": groups[:shown], "hidden": hidden}
            html, encoded = html_of(context)
    return _Bodies(flowed.wrap(text_template.render(context)), html, encoded)


def as_message(raw: bytes) -> EmailMessage:
    """Rendered bytes as a message object whose ``as_bytes()`` gives them back unchanged. Read with bare line
    feeds, as a message built in memory holds them: its parts' ``get_content()`` has no carriage returns."""
    msg = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=AS_WRITTEN)
    assert isinstance(msg, EmailMessage)  # the policy's message factory
    return msg


@dataclass(frozen=True, slots=True)
class Rendered:
    """An email as it goes into the outbox: its bytes, and what the outbox and the log note of it."""

    message: bytes
    subject: str
    message_id: str
    left_out: int  # alerts of a mass email that its attachments could not carry (0 for any other email)
    ack_url: str | None = None  # the personal link to the acknowledgement page it carries, if any


def render_message(
    env: jinja2.Environment,
    est: Establishment,
    alerts: Sequence[Alert],
    recipients: Sequence[str],
    *,
    settings: RenderSettings,
    now: datetime,
    message_id: str,
    in_reply_to: str | None = None,
    resolved: Sequence[Finding] = (),
    reference: str | None = None,
    ack_url: str | None = None,
    escalated: tuple[str, datetime] | None = None,
) -> Rendered:
    """The warning email for one establishment, in its language (contract §4).

    ``resolved`` lists findings of earlier emails that their feed no longer lists (a closing section says so), or
    that were withdrawn because their version turned out not affected (a correction section says why).

    ``multipart/mixed``: a ``multipart/alternative`` (text, then HTML with its CSS inlined), then the findings
    as ``findings.csv`` and ``findings.json``. With ``in_reply_to`` it is a reminder threaded under that
    message: ``In-Reply-To``/``References`` set and the subject starting with "Re: ". Raises ValueError if
    ``alerts`` is empty, if any alert belongs to another establishment, or if there is no recipient. The same
    inputs give the same bytes (``message_id`` fixes the MIME boundaries). ``reference`` is the CERT's reference
    of this email (``CERTSANTE-2026-ALE-0042``), allocated once by the store and never reused. ``ack_url`` is the
    email's personal link to the acknowledgement page (:mod:`~alertd.render.acklink`): alertd's own, so shown as
    a link and never defanged. ``escalated`` (the reference of a warning nobody answered, and when it was sent)
    makes the email its escalation: the subject and the first line after the TLP marking say it is a reminder.

    The whole message stays under ``settings.max_message_bytes`` (less room for a signature): a mass event is
    one summary email whose attachments carry as many alerts as fit (:attr:`Rendered.left_out` tells how many
    did not).
    """
    context = email_context(est, alerts, settings, now, in_reply_to=in_reply_to, reference=reference)
    # A finding withdrawn because its version turned out not affected is a correction, not a delisting.
    withdrawn = [
        f for f in resolved if f.facts.version is not None and f.facts.version.evidence is Evidence.NOT_AFFECTED
    ]
    context["resolved"] = resolved_context(est, [f for f in resolved if f not in withdrawn])
    context["corrections"] = corrections_context(words(context["lang"]), est, withdrawn)
    context["ack_url"] = ack_url
    if escalated is not None:
        original, sent = escalated
        context["escalation"] = {"reference": original, "since": words(context["lang"]).moment(sent, settings.timezone)}
    if not recipients:
        raise ValueError(f"no recipient for establishment {est.id!r}")
    lang = context["lang"]
    subject = _template(env, lang, "subject.txt.j2").render(context)
    if in_reply_to and not clean_header(subject).lower().startswith("re:"):
        subject = "Re: " + subject
    headers = _Headers(clean_header(subject), recipients, settings, now, message_id, in_reply_to, lang)
    records = finding_records(context, alerts)  # raw values for tools, read from the alerts
    limit = settings.max_message_bytes - SIGNING_MARGIN
    raw = _message(headers, _bodies(env, context), context, records)
    if len(raw) > limit:
        raw, context = _mass_email(env, headers, context, records, limit)
    return Rendered(raw, headers.subject, clean_header(message_id, 500), context.get("left_out") or 0, ack_url)


def _as_message(render: Callable[P, Rendered]) -> Callable[P, EmailMessage]:
    def as_object(*args: P.args, **kwargs: P.kwargs) -> EmailMessage:
        return as_message(render(*args, **kwargs).message)

    return as_object


render_email = _as_message(render_message)
"""The warning email of :func:`render_message`, as a message object: its bytes parsed back (what a preview or a
test reads)."""


@dataclass(frozen=True, slots=True)
class _Headers:
    """What the envelope of an email says, the same whatever its bodies and attachments hold."""

    subject: str
    recipients: Sequence[str]
    settings: RenderSettings
    now: datetime
    message_id: str
    in_reply_to: str | None
    lang: str


def _mass_email(
    env: jinja2.Environment,
    headers: _Headers,
    context: dict[str, Any],
    records: Sequence[dict[str, Any]],
    limit: int,
) -> tuple[bytes, dict[str, Any]]:
    """A mass event: more alerts than one message may carry. The email says it is a summary (its alerts counted
    by kind) and its bodies keep what their budget allows. The list goes as attachments: both, when every alert
    fits; else ``findings.csv`` alone (the JSON repeats each alert's values, and the CSV holds them all but the
    details); else the CSV cut to the alerts that fit, most severe first, the email counting those left out, which
    stay in the store for the operators (contract §4). The message, and the context it was rendered from. Raises
    ValueError when even the bodies alone would pass ``limit``."""
    kinds = Counter(item["kind_label"] for item in context["alerts"])
    context = {**context, "mass": [{"label": k, "count": n} for k, n in kinds.most_common()], "left_out": 0}
    for files in (ATTACHMENTS, ATTACHMENTS[:1]):
        context["attachments"] = list(files)
        raw = _message(headers, _bodies(env, context), context, records)
        if len(raw) <= limit:
            return raw, context
    kept = len(records)
    fixed = len(_message(headers, NO_BODIES, context, []))
    while True:
        # Each record costs about the same: aim under the limit in proportion, then step down if still over.
        size = len(_message(headers, NO_BODIES, context, records[:kept]))
        per_record = max(1.0, (size - fixed) / max(kept, 1))
        kept = max(0, min(kept - 1, int((limit - fixed - 2 * HTML_BUDGET) / per_record)))
        context["left_out"] = len(records) - kept
        raw = _message(headers, _bodies(env, context), context, records[:kept])
        size = len(raw)
        if size <= limit:
            return raw, context
        if kept == 0:
            raise ValueError(f"the bodies alone take {size} bytes, over the message limit of {limit}")


def _message(h: _Headers, bodies: _Bodies, context: dict[str, Any], records: Sequence[dict[str, Any]]) -> bytes:
    """The MIME message's bytes: the text and HTML parts, then ``records`` as the attachments ``context`` names
    (``findings.csv`` and ``findings.json``, or a mass email's ``findings.csv`` alone)."""
    settings = h.settings
    text, html = bodies.text, bodies.html
    head = [
        mime.addresses("From", [clean_address(settings.sender_from)]),
        mime.addresses("To", [clean_header(r, 320) for r in h.recipients]),
    ]
    if settings.reply_to:
        head.append(mime.addresses("Reply-To", [clean_address(settings.reply_to)]))
    head.append(mime.subject(h.subject))
    head.append(mime.header("Date", format_datetime(h.now if h.now.tzinfo is not None else h.now.replace(tzinfo=UTC))))
    head.append(mime.header("Message-ID", clean_header(h.message_id, 500)))
    if h.in_reply_to:
        head.append(mime.header("In-Reply-To", clean_header(h.in_reply_to, 500)))
        head.append(mime.header("References", clean_header(h.in_reply_to, 500)))
    head.append(b"Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n")
    if context.get("left_out"):
        # For the operators' notice; the email says it in words.
        head.append(mime.header(LEFT_OUT_HEADER, str(context["left_out"])))
    # format=flowed (RFC 3676): soft breaks at 72 columns; quoted-printable keeps their trailing spaces (=20).
    field, body = mime.multipart(
        "alternative",
        boundary(h.message_id, [text, html], "a"),
        [
            mime.text_part(text, 'text/plain; charset="utf-8"; format="flowed"; delsp="no"'),  # wrapped by _bodies
            mime.text_part(html, 'text/html; charset="utf-8"', bodies.html_encoded),
        ],
    )
    parts = [field + b"\r\n" + body]
    parts.append(mime.attachment(findings_csv(records), 'text/csv; charset="utf-8"', ATTACHMENTS[0]))
    if ATTACHMENTS[1] in context["attachments"]:
        document = findings_json(context, records)
        parts.append(mime.attachment(document.encode("utf-8"), "application/json", ATTACHMENTS[1]))
    field, body = mime.multipart("mixed", boundary(h.message_id, [text, html], "m"), parts)
    head += [b"MIME-Version: 1.0\r\n", field, mime.header("Content-Language", h.lang)]
    return b"".join(head) + b"\r\n" + body
