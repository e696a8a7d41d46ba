"""SmtpTransport against a real aiosmtpd server on 127.0.0.1, with trustme certificates."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
import trustme
from sending import send_in_turn
from smtp_server import SmtpServerFactory, TlsMode

from alertd.domain.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from alertd.domain.settings import DeliveryMethod, Settings, SmtpSecurity, SmtpSettings
from alertd.domain.tlp import Tlp
from alertd.send.transports import (
    MAILDIR_CONCURRENCY,
    SMTP_POOL_SIZE,
    MaildirTransport,
    SendResult,
    SmtpTransport,
    make_transport,
    read_password,
)

SENDER = "alertes@cert-sante.example"
RSSI = "rssi@chu-bordeaux.example"
ONCALL = "astreinte@chu-bordeaux.example"
PASSWORD = "Tr0ub4dor&3-horse-staple"


def _message(n: int = 1) -> bytes:
    return (
        f"From: CERT Sante <{SENDER}>\r\n"
        f"To: {RSSI}\r\n"
        f"Subject: [TLP:AMBER] alert {n}\r\n"
        f"Message-ID: <alert-{n}@cert-sante.example>\r\n"
        "\r\n"
        f"body {n}\r\n"
        ".leading dot survives dot-stuffing\r\n"
    ).encode()


def _send(
    transport: SmtpTransport, *batches: Sequence[str], messages: Sequence[bytes] | None = None
) -> list[SendResult | DeliveryError]:
    """Send one message per batch of recipients in turn on one transport; failures are returned."""
    return send_in_turn(transport, SENDER, batches, messages or [_message(n) for n in range(len(batches))])


def _send_one(transport: SmtpTransport, recipients: Sequence[str] = (RSSI,)) -> SendResult:
    """Send one message; a failure is raised."""
    (outcome,) = _send(transport, recipients)
    if isinstance(outcome, DeliveryError):
        raise outcome
    return outcome


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- TLS --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_tls_with_a_verified_certificate_delivers_the_exact_bytes(smtp_server: SmtpServerFactory, tls: TlsMode) -> None:
    server = smtp_server(tls=tls)
    result = _send_one(SmtpTransport(server.smtp_settings(), None), [RSSI, ONCALL])

    assert result.refused == {}
    assert "queued" in result.reply
    (received,) = server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == (RSSI, ONCALL)
    assert received.content == _message(0)
    assert received.tls


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_a_certificate_from_an_untrusted_ca_is_refused_permanently(
    smtp_server: SmtpServerFactory, tls: TlsMode, tmp_path: Path
) -> None:
    server = smtp_server(tls=tls)
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))

    with pytest.raises(PermanentDeliveryError, match="TLS certificate could not be verified") as caught:
        _send_one(SmtpTransport(server.smtp_settings(ca_file=other_ca), None))
    assert f"smtp 127.0.0.1:{server.port} ({tls})" in str(caught.value)
    assert "ca_file" in str(caught.value)
    assert server.messages == []


def test_a_certificate_for_another_host_name_is_refused(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls", cert_names=("mail.cert-sante.example",))
    with pytest.raises(PermanentDeliveryError, match="could not be verified"):
        _send_one(SmtpTransport(server.smtp_settings(), None))
    assert server.messages == []


def test_starttls_is_required_when_configured(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="none")
    with pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS; refusing to send in clear text"):
        _send_one(SmtpTransport(server.smtp_settings(security="starttls"), None))
    assert server.messages == []


def test_security_none_talks_plain_smtp_to_loopback(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="none")
    _send_one(SmtpTransport(server.smtp_settings(), None))
    (received,) = server.messages
    assert not received.tls


# -- AUTH -------------------------------------------------------------------------------------------


def test_auth_logs_in_with_the_username_and_password(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls", auth={"alertd": PASSWORD})
    _send_one(SmtpTransport(server.smtp_settings(username="alertd"), PASSWORD))
    (received,) = server.messages
    assert received.login == "alertd"
    assert received.tls


def test_refused_auth_is_permanent_and_never_shows_the_password(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls", auth={"alertd": "the-right-one"})
    transport = SmtpTransport(server.smtp_settings(username="alertd"), PASSWORD)

    with pytest.raises(PermanentDeliveryError, match="login as 'alertd' refused: 535") as caught:
        _send_one(transport)
    assert PASSWORD not in _chain_text(caught.value)
    assert PASSWORD not in repr(transport) + transport.describe()
    assert server.messages == []


def test_a_username_without_a_password_is_a_configuration_error(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls")
    with pytest.raises(PermanentDeliveryError, match="'username' is set but there is no password"):
        SmtpTransport(server.smtp_settings(username="alertd"), None)


# -- replies ----------------------------------------------------------------------------------------


def test_451_is_temporary_and_the_retry_succeeds_on_the_same_connection(
    smtp_server: SmtpServerFactory,
) -> None:
    server = smtp_server(tls="starttls")
    server.script_data("451 4.3.0 try later")
    first, second = _send(SmtpTransport(server.smtp_settings(), None), [RSSI], [RSSI], messages=[_message()] * 2)

    assert isinstance(first, TemporaryDeliveryError)
    assert "451 4.3.0 try later" in str(first)
    assert isinstance(second, SendResult)
    assert [m.content for m in server.messages] == [_message()]
    assert server.connections == 1


def test_550_for_every_recipient_is_permanent(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    server.reject_recipient(RSSI)
    server.reject_recipient(ONCALL, "553 5.1.3 mailbox name not allowed")

    with pytest.raises(PermanentDeliveryError, match="every recipient was refused") as caught:
        _send_one(SmtpTransport(server.smtp_settings(), None), [RSSI, ONCALL])
    assert f"{RSSI} (550 5.1.1 no such user)" in str(caught.value)
    assert f"{ONCALL} (553 5.1.3 mailbox name not allowed)" in str(caught.value)
    assert server.messages == []


def test_every_recipient_refused_with_one_4xx_is_temporary(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    server.script_rcpt("550 5.1.1 no such user", "452 4.2.2 mailbox full")
    with pytest.raises(TemporaryDeliveryError, match="every recipient was refused"):
        _send_one(SmtpTransport(server.smtp_settings(), None), [RSSI, ONCALL])


def test_a_5xx_after_data_is_permanent(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    server.script_data("554 5.7.1 message refused as spam")
    with pytest.raises(PermanentDeliveryError, match=r"554 5\.7\.1 message refused as spam"):
        _send_one(SmtpTransport(server.smtp_settings(), None))


def test_one_refused_recipient_is_reported_while_the_other_gets_the_mail(
    smtp_server: SmtpServerFactory,
) -> None:
    server = smtp_server(tls="starttls")
    server.reject_recipient(ONCALL)
    result = _send_one(SmtpTransport(server.smtp_settings(), None), [RSSI, ONCALL])

    assert dict(result.refused) == {ONCALL: (550, "5.1.1 no such user")}
    (received,) = server.messages
    assert received.rcpt_tos == (RSSI,)


# -- connections ------------------------------------------------------------------------------------


def test_a_server_that_is_down_is_a_temporary_failure() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=_closed_port(), security=SmtpSecurity.STARTTLS, timeout=2.0)
    with pytest.raises(TemporaryDeliveryError, match="connection failed"):
        _send_one(SmtpTransport(settings, None))


def test_one_connection_carries_many_sends(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls", auth={"alertd": PASSWORD})
    outcomes = _send(SmtpTransport(server.smtp_settings(username="alertd"), PASSWORD), [RSSI], [ONCALL], [RSSI])
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert len(server.messages) == 3
    assert server.connections == 1


def _concurrently(transport: SmtpTransport, *rounds: Sequence[bytes], close: bool = True) -> list[list[SendResult]]:
    """Send each round's messages all at once to RSSI, one round after the other, on one transport."""

    async def go() -> list[list[SendResult]]:
        results: list[list[SendResult]] = []
        try:
            for messages in rounds:
                results.append(list(await asyncio.gather(*(transport.send(m, SENDER, [RSSI]) for m in messages))))
        finally:
            if close:
                await transport.close()
        return results

    return asyncio.run(go())


def test_concurrent_sends_share_a_pool_of_reused_connections(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls")
    transport = SmtpTransport(server.smtp_settings(), None)
    assert transport.concurrency == SMTP_POOL_SIZE == 8
    rounds = [[_message(100 * r + n) for n in range(16)] for r in range(3)]
    results = _concurrently(transport, *rounds)

    assert [len(r) for r in results] == [16, 16, 16]
    assert sorted(m.content for m in server.messages) == sorted(m for r in rounds for m in r)
    assert server.connections == 8  # opened by the first round, reused by the next two


def test_a_pool_of_one_serialises_sends_on_one_connection(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls")
    transport = SmtpTransport(server.smtp_settings(), None, pool_size=1)
    assert transport.concurrency == 1
    _concurrently(transport, [_message(n) for n in range(8)])
    assert len(server.messages) == 8
    assert server.connections == 1


def test_the_pool_size_must_be_positive() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=25, security=SmtpSecurity.NONE)
    with pytest.raises(ValueError, match="pool_size"):
        SmtpTransport(settings, None, pool_size=0)


def test_every_transport_says_how_many_sends_it_takes_at_once(tmp_path: Path) -> None:
    assert MaildirTransport(tmp_path / "md").concurrency == MAILDIR_CONCURRENCY
    settings = SmtpSettings(host="127.0.0.1", port=25, security=SmtpSecurity.NONE)
    assert SmtpTransport(settings, None, pool_size=6).concurrency == 6


def test_broken_pooled_connections_are_replaced(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    transport = SmtpTransport(server.smtp_settings(), None)

    async def go() -> None:
        try:
            await asyncio.gather(*(transport.send(_message(n), SENDER, [RSSI]) for n in range(4)))
            server.disconnect_all()
            await asyncio.sleep(0.1)  # the client notices the closed connections before the next round
            await asyncio.gather(*(transport.send(_message(n), SENDER, [RSSI]) for n in range(4, 8)))
            server.disconnect_all()  # and this time it does not
            await asyncio.gather(*(transport.send(_message(n), SENDER, [RSSI]) for n in range(8, 12)))
        finally:
            await transport.close()

    asyncio.run(go())
    assert sorted(m.content for m in server.messages) == sorted(_message(n) for n in range(12))
    assert server.connections == 12


def test_a_stalled_send_times_out_alone_while_the_others_go_through(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    server.stall_data(3.0)  # the first DATA only
    transport = SmtpTransport(server.smtp_settings(timeout=0.5), None)

    async def go() -> list[SendResult | BaseException]:
        try:
            first = asyncio.ensure_future(transport.send(_message(0), SENDER, [RSSI]))
            await asyncio.sleep(0.1)  # let it reach DATA first
            others = [transport.send(_message(n), SENDER, [RSSI]) for n in range(1, 4)]
            return list(await asyncio.gather(first, *others, return_exceptions=True))
        finally:
            await transport.close()

    first, *others = asyncio.run(go())
    assert isinstance(first, TemporaryDeliveryError) and "timeout" in str(first)
    assert all(isinstance(o, SendResult) for o in others)
    assert sorted(m.content for m in server.messages) == sorted(_message(n) for n in range(1, 4))


def test_a_closed_transport_opens_new_connections_when_used_again(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    transport = SmtpTransport(server.smtp_settings(), None)
    _concurrently(transport, [_message(1), _message(2)])
    _concurrently(transport, [_message(3), _message(4)])
    assert len(server.messages) == 4
    assert server.connections == 4  # close() ended the first two


def test_a_connection_dropped_by_the_server_is_replaced(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    transport = SmtpTransport(server.smtp_settings(), None)

    async def go() -> None:
        try:
            await transport.send(_message(1), SENDER, [RSSI])
            server.disconnect_all()  # the client has not noticed yet when the next send starts
            await transport.send(_message(2), SENDER, [RSSI])
            server.disconnect_all()
            await asyncio.sleep(0.1)  # this time it has
            await transport.send(_message(3), SENDER, [RSSI])
        finally:
            await transport.close()

    asyncio.run(go())
    assert [m.content for m in server.messages] == [_message(1), _message(2), _message(3)]
    assert server.connections == 3


def test_a_server_that_stops_answering_times_out_temporarily(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    server.stall_data(3.0)
    transport = SmtpTransport(server.smtp_settings(timeout=0.5), None)
    first, second = _send(transport, [RSSI], [RSSI])

    assert isinstance(first, TemporaryDeliveryError)
    assert "timeout" in str(first)
    assert isinstance(second, SendResult)  # on a fresh connection: the stalled one is out of step
    assert server.connections == 2


def test_describe_names_server_security_and_user() -> None:
    settings = SmtpSettings(host="smtp.example", port=587, security=SmtpSecurity.STARTTLS)
    assert SmtpTransport(settings, None).describe() == "smtp smtp.example:587 (starttls)"
    settings = SmtpSettings(host="::1", port=25, security=SmtpSecurity.NONE, username="alertd")
    assert SmtpTransport(settings, PASSWORD).describe() == "smtp [::1]:25 (none, user alertd)"


# -- password and make_transport --------------------------------------------------------------------


def test_read_password_strips_the_trailing_newline_only(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(" spaced pass \n")
    assert read_password(tmp_path / "pw", environ={}) == " spaced pass "
    assert read_password(None, environ={}) is None


def test_read_password_falls_back_to_the_systemd_credential(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "smtp-password").write_text(PASSWORD + "\n")
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert read_password(tmp_path / "absent", environ=environ) == PASSWORD
    assert read_password(None, environ=environ) == PASSWORD


def test_read_password_errors_name_the_file_never_its_content(tmp_path: Path) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"password file .*absent does not exist"):
        read_password(tmp_path / "absent", environ={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(PermanentDeliveryError, match=r"password file .*empty is empty"):
        read_password(tmp_path / "empty", environ={})
    (tmp_path / "binary").write_bytes(PASSWORD.encode() + b"\xff")
    with pytest.raises(PermanentDeliveryError, match="is not UTF-8") as caught:
        read_password(tmp_path / "binary", environ={})
    assert PASSWORD not in _chain_text(caught.value)


def _settings(tmp_path: Path, method: str, smtp: SmtpSettings | None) -> Settings:
    return Settings(
        path=tmp_path / "alertd.yaml",
        timezone=ZoneInfo("Europe/Paris"),
        state_dir=tmp_path,
        feeds_file=tmp_path / "feeds.yaml",
        registry_path=tmp_path / "establishments",
        subscriptions_file=tmp_path / "subscriptions.yaml",
        inhibitions_file=None,
        allowlist_file=None,
        templates_dir=None,
        operators=(),
        renotify=MappingProxyType({}),
        sender_from=f"CERT Sante <{SENDER}>",
        reply_to=None,
        delivery_method=DeliveryMethod(method),
        maildir=tmp_path / "maildir",
        smtp=smtp,
        http_listen=None,
        tlp=Tlp.AMBER,
        organisation="",
    )


def test_make_transport_follows_the_delivery_method(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    maildir = make_transport(_settings(tmp_path, "maildir", None))
    assert isinstance(maildir, MaildirTransport)
    assert maildir.describe() == f"maildir {tmp_path / 'maildir'}"

    server = smtp_server(tls="starttls", auth={"alertd": PASSWORD})
    (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
    base = server.smtp_settings(username="alertd")
    smtp = SmtpSettings(
        host=base.host,
        port=base.port,
        security=base.security,
        username="alertd",
        password_file=tmp_path / "smtp-password",
        ca_file=base.ca_file,
        timeout=timedelta(seconds=5).total_seconds(),
    )
    transport = make_transport(_settings(tmp_path, "smtp", smtp))
    assert isinstance(transport, SmtpTransport)
    _send_one(transport)
    assert server.messages[0].login == "alertd"


def test_a_transport_outlives_its_event_loop(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="starttls")
    transport = SmtpTransport(server.smtp_settings(), None, pool_size=2)
    _concurrently(transport, [_message(n) for n in range(4)], close=False)  # two connections left idle
    _concurrently(transport, [_message(n) for n in range(4, 8)])  # another asyncio.run: fresh pool
    assert sorted(m.content for m in server.messages) == sorted(_message(n) for n in range(8))
    assert server.connections == 4


def test_a_refusal_echoing_the_base64_of_the_login_never_shows_it(smtp_server: SmtpServerFactory) -> None:
    server = smtp_server(tls="tls", auth={"alertd": "the-right-one"})
    server.echo_refused_auth()
    transport = SmtpTransport(server.smtp_settings(username="alertd"), PASSWORD)

    with pytest.raises(PermanentDeliveryError, match=r"535 5.7.8 (PLAIN|LOGIN) \*\*\* rejected") as caught:
        _send_one(transport)
    chain = _chain_text(caught.value)
    assert PASSWORD not in chain
    for sent in (b"\0alertd\0" + PASSWORD.encode(), PASSWORD.encode()):  # AUTH PLAIN, AUTH LOGIN
        assert base64.b64encode(sent).decode() not in chain  # nor in the chained cause
