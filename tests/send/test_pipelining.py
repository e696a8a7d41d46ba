"""SMTP PIPELINING (RFC 2920): the envelope in one write where the server offers it, the same outcomes as one
command at a time where it does not, and a connection still in step after every kind of refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sending import send_in_turn
from smtp_server import SmtpServerFactory, SmtpTestServer

from alertd.domain.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
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
