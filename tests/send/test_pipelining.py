"""SMTP PIPELINING (RFC 2920): the envelope in one write where the server offers it, the same outcomes as one
command at a time where it does not, and a connection still in step after every kind of refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest
from sending import send_in_turn
from smtp_server import SmtpServerFactory, SmtpTestServer

from alertd.domain.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from alertd.domain.settings import SmtpSecurity, SmtpSettings
from alertd.send.transports import SendResult, SmtpTransport

SENDER = "alertes@cert-sante.example"
RSSI = "rssi@chu-nantes.example"
ONCALL = "astreinte@chu-nantes.example"
DSI = "dsi@chu-nantes.example"


def _message(n: int) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {RSSI}\r\nSubject: alert {n}\r\nMessage-ID: <p-{n}@cert-sante.example>\r\n\r\n"
        f"body {n}\r\n.a line starting with a dot\r\n.\r\nand a lone dot above\r\n"
    ).encode()


def _sends(server: SmtpTestServer, *batches: Sequence[str]) -> list[SendResult | DeliveryError]:
    """One message per batch of recipients, in turn, on one transport with a pool of one connection."""
    transport = SmtpTransport(server.smtp_settings(), None, pool_size=1)
    return send_in_turn(transport, SENDER, batches, [_message(n) for n in range(len(batches))])


@pytest.mark.parametrize("tls", ["none", "starttls"])
def test_the_envelope_goes_in_one_write_where_pipelining_is_offered(smtp_server: SmtpServerFactory, tls: str) -> None:
    server = smtp_server(tls="none" if tls == "none" else "starttls", auth={"alertd": "pw"} if tls != "none" else None)
    transport = SmtpTransport(server.smtp_settings(username="alertd" if tls != "none" else None), "pw", pool_size=1)

    async def go() -> list[SendResult]:
        try:
            return [await transport.send(_message(n), SENDER, [RSSI, ONCALL]) for n in range(3)]
        finally:
            await transport.close()

    results = asyncio.run(go())
    assert [r.refused for r in results] == [{}, {}, {}]
    assert server.envelopes_pipelined == 3
    assert server.connections == 1
    assert [m.content.replace(b"\r\n", b"\n") for m in server.messages] == [
        _message(n).replace(b"\r\n", b"\n") for n in range(3)
    ]
    assert all(m.rcpt_tos == (RSSI, ONCALL) for m in server.messages)
    assert all(m.tls == (tls != "none") and m.login == ("alertd" if tls != "none" else None) for m in server.messages)


def test_without_pipelining_the_commands_go_one_at_a_time(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="none", pipelining=False)
    outcomes = _sends(server, [RSSI], [RSSI, ONCALL])
    assert all(isinstance(o, SendResult) and not o.refused for o in outcomes)
    assert server.envelopes_pipelined == 0
    assert [m.rcpt_tos for m in server.messages] == [(RSSI,), (RSSI, ONCALL)]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-at-a-time"])
def test_refusals_are_classified_alike_and_leave_the_connection_in_step(
    smtp_server: SmtpServerFactory, pipelining: bool
) -> None:
    server = smtp_server(tls="none", pipelining=pipelining)
    server.reject_recipient(DSI, "550 5.1.1 no such user")
    # send 1: ONCALL deferred (450), RSSI accepted; send 2: every recipient refused (550);
    # send 3: every recipient refused, one only for now; send 4: the content refused for now; send 5: all well.
    server.script_rcpt(None, "450 4.2.1 mailbox busy", "450 4.2.1 mailbox busy")
    server.script_data(None, "451 4.3.0 try later")
    outcomes = _sends(server, [RSSI, ONCALL, DSI], [DSI], [ONCALL, DSI], [RSSI], [RSSI, ONCALL])

    first, every, some_later, data_later, last = outcomes
    assert isinstance(first, SendResult)
    assert dict(first.refused) == {ONCALL: (450, "4.2.1 mailbox busy"), DSI: (550, "5.1.1 no such user")}
    assert isinstance(every, PermanentDeliveryError) and "every recipient was refused" in str(every)
    assert isinstance(some_later, TemporaryDeliveryError) and "every recipient was refused" in str(some_later)
    assert isinstance(data_later, TemporaryDeliveryError) and "451" in str(data_later)
    assert isinstance(last, SendResult) and not last.refused
    assert [m.rcpt_tos for m in server.messages] == [(RSSI,), (RSSI, ONCALL)]
    assert server.connections == 1  # every refusal left the dialogue in step: the connection was reused
    assert server.envelopes_pipelined == (5 if pipelining else 0)


def test_a_refusal_of_every_recipient_for_now_is_temporary_when_pipelined(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="none")
    server.script_rcpt("451 4.7.1 greylisted", "451 4.7.1 greylisted")
    (outcome,) = _sends(server, [RSSI, ONCALL])
    assert isinstance(outcome, TemporaryDeliveryError) and "greylisted" in str(outcome)
    assert server.messages == []


def test_bare_line_feeds_go_out_as_crlf_and_leading_dots_are_doubled(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="none")
    lf = _message(7).replace(b"\r\n", b"\n").rstrip(b"\n")  # no final line end either
    transport = SmtpTransport(server.smtp_settings(), None, pool_size=1)
    (outcome,) = send_in_turn(transport, SENDER, [[RSSI]], [lf])
    assert isinstance(outcome, SendResult) and server.envelopes_pipelined == 1
    assert server.messages[0].content == _message(7)  # CRLF restored, the dots undone by the server


# -- servers that misbehave: a raw, scripted SMTP server on loopback ------------------------------------------


Script = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 raw ESMTP\r\n")
    await reader.readline()  # EHLO
    writer.write(b"250-raw\r\n250-PIPELINING\r\n250 8BITMIME\r\n")


async def _envelope(reader: asyncio.StreamReader, recipients: int) -> list[bytes]:
    return [await reader.readline() for _ in range(recipients + 2)]  # MAIL, RCPT..., DATA


async def _content(reader: asyncio.StreamReader, seen: list[bytes]) -> bytes:
    """The message's lines up to the lone dot, recorded as the server would deliver them."""
    lines = []
    while (line := await reader.readline()) and line != b".\r\n":
        lines.append(line)
    seen.append(b"".join(lines))
    return b"".join(lines)


def _scripted(script: Script, sends: Sequence[tuple[bytes, list[str]]]) -> tuple[list[object], list[bytes], int]:
    """Each message sent in turn through a pool of one connection to a server running ``script`` on each
    connection: the outcomes, the contents the server took, the connections it saw."""
    seen: list[bytes] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await script(connections, reader, writer, seen)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def go() -> list[object]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = SmtpTransport(SmtpSettings("127.0.0.1", port, SmtpSecurity.NONE, timeout=3.0), None, pool_size=1)
        outcomes: list[object] = []
        for message, recipients in sends:
            try:
                outcomes.append(await transport.send(message, SENDER, recipients))
            except DeliveryError as exc:
                outcomes.append(exc)
        await transport.close()
        server.close()
        return outcomes

    return asyncio.run(go()), seen, connections


def _warning(to: str) -> bytes:
    return f"Subject: warning for {to}\r\n\r\nfindings of {to}\r\n".encode()


def test_a_garbled_reply_drops_the_connection_so_no_envelope_becomes_the_last_message() -> None:
    async def script(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await _greet(reader, writer)
        while (await _envelope(reader, 1))[0]:
            writer.write(b"25O ok\r\n" if n == 1 else b"250 ok\r\n")  # the first connection garbles MAIL's reply
            await writer.drain()
            await asyncio.sleep(0.3)
            writer.write(b"250 ok\r\n354 go\r\n")  # late, on the first connection
            await _content(reader, seen)
            writer.write(b"250 queued\r\n")

    outcomes, seen, _ = _scripted(script, [(_warning("A"), ["a@a.example"]), (_warning("B"), ["b@b.example"])])
    assert isinstance(outcomes[0], TemporaryDeliveryError)
    assert isinstance(outcomes[1], SendResult)
    assert not any(b"RCPT TO:<b@b.example>" in content for content in seen)  # B's envelope never A's content
    assert seen[-1] == b"Subject: warning for B\r\n\r\nfindings of B\r\n"  # B's warning went on a new connection


@pytest.mark.parametrize("refusal", ["mail", "content"])
def test_a_refusal_then_a_hang_up_is_the_refusal(refusal: str) -> None:
    async def script(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await _greet(reader, writer)
        while (await _envelope(reader, 1))[0]:
            if refusal == "mail" and n == 1:
                writer.write(b"550 5.7.1 sender blocked\r\n")
                await writer.drain()
                return  # and hangs up
            writer.write(b"250 ok\r\n250 ok\r\n354 go\r\n")
            if b"BAD" in await _content(reader, seen):
                writer.write(b"554 5.7.1 content rejected\r\n")
                await writer.drain()
                return
            writer.write(b"250 queued\r\n")

    sends = [(_warning("BAD") if refusal == "content" else _warning("A"), ["a@a.example"])]
    outcomes, seen, connections = _scripted(script, [(_warning("first"), ["f@f.example"]), *sends])
    first, refused = outcomes
    if refusal == "mail":
        assert isinstance(first, PermanentDeliveryError) and "550 5.7.1 sender blocked" in str(first)
        assert isinstance(refused, SendResult)  # the next message on a new connection
    else:
        assert isinstance(first, SendResult)
        assert isinstance(refused, PermanentDeliveryError) and "554 5.7.1 content rejected" in str(refused)
        assert sum(b"BAD" in content for content in seen) == 1 and connections == 1  # refused once, not resent
