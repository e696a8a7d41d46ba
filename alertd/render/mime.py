"""The email's bytes, written directly: headers alertd wrote itself are not parsed back into header objects.

``email.message.EmailMessage`` parses every header it is given into an object, and ``set_content`` builds and
re-parses each part's ``Content-*`` headers; for an email of a few parts that costs more than rendering it. What
alertd writes is known in advance (a ``multipart/mixed`` of a ``multipart/alternative`` and two attachments), so
it is written here as the standard library would write it, in meaning if not byte for byte:

- header fields within 78 columns; a value that needs encoding (non-ASCII, an ``=?`` that a reader would decode,
  a display name that needs quoting) or folding is handed to the standard library's header objects, which do
  RFC 2047 and folding right; the Subject is folded by :func:`~alertd.render.headers.fold_subject`;
- text parts in quoted-printable (lines normalised as ``set_content`` does, trailing spaces kept as ``=20``),
  attachments in base64 lines of 76 characters; the attachments' file names are alertd's own ASCII constants,
  so no RFC 2231 parameter encoding is needed.

The tests parse the result back with ``email.policy.default`` and compare it with what was rendered.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from functools import lru_cache

from alertd.render.headers import EMAIL_POLICY, fold_subject

CRLF = b"\r\n"
MAX_LINE = 78  # columns of a header line, as the SMTP policy folds them
# A value written as it is: printable ASCII words separated by single spaces, nothing a reader would decode.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*\Z")
# A bare address that needs no quoting (RFC 5322 dot-atom local part, a host name).
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9.-]+\Z")


def header(name: str, value: str) -> bytes:
    """One unstructured header field, CRLF-ended: as it is when it fits one line and needs no encoding, else
    encoded and folded by the standard library's header object of that name."""
    if len(name) + 2 + len(value) <= MAX_LINE and "=?" not in value and _PLAIN.match(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def subject(value: str) -> bytes:
    """The Subject field, folded so that it reads back exactly as rendered."""
    return fold_subject("Subject", value, MAX_LINE, "\r\n").encode("ascii")


def addresses(name: str, values: Sequence[str]) -> bytes:
    """An address field (To, From, Reply-To): bare addresses written and folded after their commas; anything
    else (a display name, an address that needs quoting) by the standard library, once per distinct value."""
    if not all(_BARE_ADDRESS.match(v) for v in values):
        return _folded(name, ", ".join(values))
    out, column = f"{name}:", len(name) + 1
    for n, value in enumerate(values):
        comma = "," if n < len(values) - 1 else ""
        if column + 1 + len(value) + len(comma) > MAX_LINE and n:
            out, column = out + "\r\n", 0
        out, column = out + f" {value}{comma}", column + 1 + len(value) + len(comma)
    return (out + "\r\n").encode("ascii")


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> bytes:
    # The sender's From and Reply-To are the same for every email: folded once.
    folded: str = EMAIL_POLICY.header_factory(name, value).fold(policy=EMAIL_POLICY)
    return folded.encode("ascii")


def _lines(text: str, linesep: bytes) -> bytes:
    """``text`` in UTF-8 with its line breaks made ``linesep`` and a final one, as ``set_content`` does."""
    return linesep.join(text.encode("utf-8").splitlines()) + linesep


def quoted_printable(text: str, encoded: bytes | None = None) -> bytes:
    """``text`` as a part's body carries it: UTF-8, its line breaks made LF with a final one, quoted-printable.

    ``encoded`` is ``binascii.b2a_qp(text.encode("utf-8"))`` if the caller has it (a size estimate measured it).
    It gives the same bytes plus the final LF when ``text`` has no CR (its line breaks are LF already) and does not
    end in a line break, a space or a tab: ``b2a_qp`` looks past a character only to decide on a final space or
    tab, and on a "." alone on its line, which it encodes before a LF as at the end; a LF after anything else is
    written as it is."""
    if encoded is not None and "\r" not in text and text[-1:] not in ("", "\n", " ", "\t"):
        return encoded + b"\n"
    return binascii.b2a_qp(_lines(text, b"\n"), istext=True)


def text_part(text: str, content_type: str, encoded: bytes | None = None) -> bytes:
    """A text part in quoted-printable: its headers, a blank line, its body (CRLF-ended). ``encoded``: as for
    :func:`quoted_printable`."""
    body = quoted_printable(text, encoded).replace(b"\n", CRLF)
    head = f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    return head.encode("ascii") + body


def attachment(data: bytes | str, content_type: str, filename: str) -> bytes:
    """An attachment in base64 (a text one with CRLF line breaks, as ``set_content`` writes it)."""
    raw = _lines(data, CRLF) if isinstance(data, str) else data
    head = (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'
    )
    return head.encode("ascii") + base64.encodebytes(raw).replace(b"\n", CRLF)


def multipart(subtype: str, boundary: str, parts: Sequence[bytes]) -> tuple[bytes, bytes]:
    """A multipart's Content-Type field, and its body: each part after its delimiter, then the closing one."""
    field = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode("ascii")
    dash = f"--{boundary}".encode("ascii")
    # The CRLF before each delimiter belongs to it (RFC 2046 §5.1.1): a part's own final line break stays its own.
    return field, dash + CRLF + (CRLF + dash + CRLF).join(parts) + CRLF + dash + b"--" + CRLF
