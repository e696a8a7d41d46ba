"""The email's bytes written directly (render/mime.py): what a client parses back with ``email.policy.default`` is
what was rendered, every line fits, and the message object alertd hands a signer serialises to the same bytes."""

from __future__ import annotations

import binascii
import email
import email.policy
from email.message import EmailMessage

import hypothesis
import hypothesis.strategies as st
from builders import ENV, IPV4, MESSAGE_ID, NOW, RECIPIENTS, SETTINGS, make_alert, make_establishment, make_settings

from alertd.render import mime
from alertd.render.defang import defang
from alertd.render.email import as_message, render_message
from alertd.render.headers import EMAIL_POLICY, clean_address, clean_header


def _read(raw: bytes) -> EmailMessage:
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    return back


def _field(raw: bytes) -> tuple[str, str]:
    back = _read(raw + b"\r\n")
    ((name, value),) = back.items()
    return name, str(value)


def _fits(raw: bytes) -> bool:
    return all(len(line) <= mime.MAX_LINE for line in raw.split(b"\r\n"))


# Display names and subjects as feeds and operators write them: accents, quotes, commas, "=?", long runs.
_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), min_size=1, max_size=120
)


@hypothesis.given(_TEXT)
def test_a_display_name_is_written_as_the_standard_library_writes_it(name: str) -> None:
    sender = clean_address(f'"{name}" <alertes@cert-sante.example>'.replace('\\"', ""))
    built = EmailMessage(policy=EMAIL_POLICY)
    built["From"] = sender
    assert mime.addresses("From", [sender]) + b"\r\n" == built.as_bytes()


@hypothesis.given(_TEXT)
def test_a_subject_reads_back_as_rendered_within_its_lines(text: str) -> None:
    subject = clean_header(text)
    hypothesis.assume(subject)
    raw = mime.subject(subject)
    assert _field(raw) == ("Subject", subject)
    assert _fits(raw) or any(len(word) > 60 for word in subject.split())  # only one ASCII word too long to cut


@hypothesis.given(
    st.lists(
        st.from_regex(r"[a-z0-9+_-]{1,20}(\.[a-z0-9+_-]{1,9})?@[a-z0-9-]{1,30}\.example", fullmatch=True), min_size=1
    )
)
def test_many_recipients_fold_after_their_commas(recipients: list[str]) -> None:
    raw = mime.addresses("To", recipients)
    assert _fits(raw) or any(len(r) > 70 for r in recipients)
    read = _read(raw + b"\r\n")["To"]
    assert [a.addr_spec for a in read.addresses] == recipients


def test_an_unstructured_value_that_needs_encoding_is_written_as_the_standard_library_writes_it() -> None:
    for value in ("plain", "Café", "=?utf-8?q?an_encoded_word?=", "x" * 120, "a " * 60):
        built = EmailMessage(policy=EMAIL_POLICY)
        built["X-Test"] = value
        raw = mime.header("X-Test", value)
        assert raw.isascii() and raw + b"\r\n" == built.as_bytes()


def test_the_rendered_email_reads_back_part_by_part() -> None:
    alerts = [make_alert(IPV4)]
    settings = make_settings(sender_from='"CERT Santé, Occitanie" <alertes@cert-sante.example>').render
    rendered = render_message(
        ENV, make_establishment(), alerts, RECIPIENTS, settings=settings, now=NOW, message_id=MESSAGE_ID
    )
    assert _fits(rendered.message)
    back = _read(rendered.message)
    assert str(back["Subject"]) == rendered.subject and str(back["Message-ID"]) == rendered.message_id
    assert back["From"].addresses[0].display_name == "CERT Santé, Occitanie"
    assert back["Content-Language"] == "fr" and back["MIME-Version"] == "1.0"
    alternative, table, document = back.iter_parts()
    assert isinstance(alternative, EmailMessage)
    text, html = alternative.iter_parts()
    assert text.get_param("format") == "flowed" and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert defang(IPV4.value) in text.get_content() and html.get_content_type() == "text/html"
    assert table.get_filename() == "findings.csv" and document.get_filename() == "findings.json"
    # The CSV's lines end with CRLF, as set_content writes a text attachment.
    raw_csv = table.get_payload(decode=True)
    assert isinstance(raw_csv, bytes)
    assert (
        raw_csv.startswith("\ufeff".encode())
        and raw_csv.endswith(b"\r\n")
        and b"\n" not in raw_csv.replace(b"\r\n", b"")
    )


def test_the_message_object_serialises_back_to_the_rendered_bytes() -> None:
    rendered = render_message(
        ENV,
        make_establishment(language="en"),
        [make_alert(IPV4)],
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
        in_reply_to="<earlier@cert-sante.example>",
    )
    msg = as_message(rendered.message)
    assert msg.as_bytes() == rendered.message  # what a signer signs is what is sent
    assert "\r" not in str(msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert str(msg["In-Reply-To"]) == "<earlier@cert-sante.example>"


# Text near quoted-printable's edges: lines about 76 columns long, spaces, tabs, "=" and "." around line breaks,
# non-ASCII letters (three bytes encoded each), carriage returns.
_QP_TEXT = st.lists(st.sampled_from(["a", " ", "\t", ".", "=", "é", "\n", "\r", ">", "x" * 70]), max_size=60).map(
    "".join
)


@hypothesis.given(_QP_TEXT)
@hypothesis.settings(max_examples=3000)
def test_a_measured_encoding_reused_gives_the_bytes_encoded_anew(text: str) -> None:
    measured = binascii.b2a_qp(text.encode("utf-8"), istext=True)  # what the size budget measures
    anew = binascii.b2a_qp(mime._lines(text, b"\n"), istext=True)
    assert mime.quoted_printable(text, measured) == anew == mime.quoted_printable(text)


def test_an_html_part_reuses_the_encoding_its_budget_measured() -> None:
    html = "<p>" + "é" * 40 + " =\n.\n" + "x" * 200 + "</p>"
    measured = binascii.b2a_qp(html.encode("utf-8"), istext=True)
    assert mime.quoted_printable(html, measured) == measured + b"\n"  # no second encoding
    for trailing in (" ", "\t", "\n", "\r"):  # where the bytes would differ, the text is encoded anew
        text = html + trailing
        reused = binascii.b2a_qp(text.encode("utf-8"), istext=True) + b"\x00"  # a marker: must not come back
        assert mime.quoted_printable(text, reused) == binascii.b2a_qp(mime._lines(text, b"\n"), istext=True)
