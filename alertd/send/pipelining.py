"""SMTP PIPELINING (RFC 2920) over an aiosmtplib connection: one mail transaction in two round trips, not 3 + one
per recipient.

``MAIL FROM``, every ``RCPT TO`` and ``DATA`` go in one write; their replies are read in order; the content follows
the 354, and its reply is the server's acceptance. The outcome is what :meth:`aiosmtplib.SMTP.sendmail` gives (the
recipients refused, the final reply) and so are the errors (:class:`~aiosmtplib.SMTPSenderRefused`,
:class:`~aiosmtplib.SMTPRecipientsRefused`, :class:`~aiosmtplib.SMTPDataError`), so the transport classifies them
as before; on a refusal the envelope is reset (RSET), so the connection stays in step and may be reused. A
dialogue that did not end in step (a reply malformed or missing, a 421, a refused RSET, a timeout) closes the
connection: the next envelope must never be read as this message's content.

aiosmtplib reads one reply per command it writes (its protocol drops what arrives while a reply waits to be
picked up), so for the transaction the connection's transport is lent to :class:`_Replies`, which queues every
reply it parses, and handed back afterwards. Everything else (connecting, EHLO, STARTTLS, AUTH, QUIT) stays
aiosmtplib's. Written here because aiosmtplib does not pipeline and no other maintained asyncio SMTP client
does it over the same connection setup.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

EXTENSION = "pipelining"
MAX_REPLY_BYTES = 65536
"""A reply longer than this is refused as malformed (aiosmtplib's own limit is of the same order)."""

_ACCEPTED_RCPT = (250, 251)
SERVICE_CLOSING = 421  # RFC 5321 §3.8: the server closes the connection after this reply


def offered(client: aiosmtplib.SMTP) -> bool:
    """Whether the server said PIPELINING in its EHLO reply (False before any EHLO)."""
    return client.supports_extension(EXTENSION)


class _Replies(asyncio.Protocol):
    """The connection's protocol for one pipelined transaction: every complete reply queued, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._replies: collections.deque[aiosmtplib.SMTPResponse] = collections.deque()
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._buffer.extend(data)
        while (reply := self._parse()) is not None:
            self._replies.append(reply)
        if len(self._buffer) > MAX_REPLY_BYTES:
            self._fail(aiosmtplib.SMTPResponseException(-1, "the server's reply is too long"))
        self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("the server closed the connection mid-transaction"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        lost = aiosmtplib.SMTPServerDisconnected("connection lost mid-transaction")
        lost.__cause__ = exc
        self._fail(lost)
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark again."""
        if self._writable is not None:
            await asyncio.shield(self._writable)
        if self._error is not None:
            raise self._error

    async def reply(self) -> aiosmtplib.SMTPResponse:
        """The next reply, waiting for it if it has not come yet."""
        while not self._replies:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _parse(self) -> aiosmtplib.SMTPResponse | None:
        """One complete reply taken from the buffer (its lines joined by newlines), or None if none is whole."""
        offset, lines = 0, []
        while (end := self._buffer.find(b"\n", offset)) != -1:
            line = bytes(self._buffer[offset : end + 1])
            offset = end + 1
            try:
                code = int(line[:3])
            except ValueError:
                self._buffer.clear()
                self._fail(aiosmtplib.SMTPResponseException(-1, f"malformed reply line {line[:80]!r}"))
                return None
            lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "surrogateescape"))
            if line[3:4] != b"-":
                del self._buffer[:offset]
                return aiosmtplib.SMTPResponse(code, "\n".join(lines))
        return None


async def sendmail(
    client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], message: bytes
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """One mail transaction pipelined on ``client`` (connected, EHLO done, PIPELINING offered): what
    :meth:`aiosmtplib.SMTP.sendmail` returns and raises. The caller bounds it in time; a timeout, a cancellation
    or a lost connection leaves the dialogue half-way: the connection must then be dropped."""
    transport = client.transport
    if not isinstance(transport, asyncio.WriteTransport) or client.protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("not connected")
    # ASCII addresses, as aiosmtplib's sendmail without SMTPUTF8; quote_address refuses what could inject commands.
    mail = b"MAIL FROM:" + quote_address(sender).encode("ascii")
    lines = _crlf(message)
    if client.supports_extension("size"):
        mail += f" SIZE={len(lines)}".encode("ascii")  # RFC 1870: as transmitted, before dot-stuffing
    rcpts = [b"RCPT TO:" + quote_address(r).encode("ascii") for r in recipients]
    content = (PERIOD_REGEX.sub(b"..", lines) if lines.startswith(b".") or b"\n." in lines else lines) + b".\r\n"

    own = client.protocol
    replies = _Replies()
    transport.set_protocol(replies)
    in_step = False  # whether the dialogue ended where the next envelope may start
    try:
        transport.write(b"\r\n".join([mail, *rcpts, b"DATA"]) + b"\r\n")
        mail_reply = await replies.reply()
        try:
            rcpt_replies = [await replies.reply() for _ in rcpts]
            data_reply = await replies.reply()
        except aiosmtplib.SMTPServerDisconnected:
            if mail_reply.code != 250:  # refused, then the server hung up: the refusal is the outcome
                raise aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, sender) from None
            raise
        refused = {
            r: reply for r, reply in zip(recipients, rcpt_replies, strict=True) if reply.code not in _ACCEPTED_RCPT
        }
        final: aiosmtplib.SMTPResponse | None = None
        if data_reply.code == 354:
            if mail_reply.code == 250 and len(refused) < len(recipients):
                transport.write(content)
                await replies.drain()
                final = await replies.reply()
            else:
                # The server opened DATA although the envelope failed: an empty message closes it (RFC 2920 §3.1).
                transport.write(b".\r\n")
                await replies.reply()
        failure = _failure(sender, mail_reply, recipients, rcpt_replies, refused, data_reply)
        if failure is None and final is not None and final.code != 250:
            failure = aiosmtplib.SMTPDataError(final.code, final.message)
        if failure is not None or final is None:
            # A new envelope for the next message on this connection, unless the server is closing it (421).
            closing = any(r.code == SERVICE_CLOSING for r in (mail_reply, *rcpt_replies, data_reply, final) if r)
            in_step = not closing and await _reset(transport, replies)
            raise failure or aiosmtplib.SMTPDataError(-1, "the server did not answer the message")
        in_step = True
    finally:
        if in_step:
            transport.set_protocol(own)
        else:
            # A reply malformed, missing or cut off, a refused RSET, a timeout: what the server still has pending
            # is unknown, and the next envelope could become this message's content. Never reused.
            client.close()
    return refused, final.message


async def _reset(transport: asyncio.WriteTransport, replies: _Replies) -> bool:
    """RSET after a refusal; whether the server answered 250 (the connection in step again). Its failure is not
    the outcome (as in aiosmtplib's sendmail): the refusal before it is."""
    try:
        transport.write(b"RSET\r\n")
        return (await replies.reply()).code == 250
    except (aiosmtplib.SMTPException, OSError):
        return False


def _crlf(message: bytes) -> bytes:
    """``message`` with CRLF line ends, ending with one, as aiosmtplib sends it; a rendered email has them already,
    which two counts tell faster than the regular expression that rewrites them."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") == crlf == message.count(b"\r") and message.endswith(b"\r\n"):
        return message
    return normalize_message_line_endings(message)


def _failure(
    sender: str,
    mail_reply: aiosmtplib.SMTPResponse,
    recipients: Sequence[str],
    rcpt_replies: Sequence[aiosmtplib.SMTPResponse],
    refused: dict[str, aiosmtplib.SMTPResponse],
    data_reply: aiosmtplib.SMTPResponse,
) -> aiosmtplib.SMTPException | None:
    """The exception aiosmtplib's sendmail raises for these envelope replies (MAIL, then RCPT, then DATA), if any."""
    if mail_reply.code != 250:
        return aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, sender)
    if len(refused) == len(recipients):
        return aiosmtplib.SMTPRecipientsRefused(
            [
                aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)
                for address, reply in zip(recipients, rcpt_replies, strict=True)
            ]
        )
    if data_reply.code != 354:
        return aiosmtplib.SMTPDataError(data_reply.code, data_reply.message)
    return None


__all__ = ["EXTENSION", "offered", "sendmail"]
