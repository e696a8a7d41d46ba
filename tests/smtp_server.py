"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in a thread, trustme certificates, scripted replies.

    with SmtpTestServer(tls="starttls", auth={"alertd": "s3cret"}) as server:
        server.reject_recipient("nobody@example.org")    # 550 for that address, every time
        server.script_data("451 4.3.0 try later")         # the next DATA gets 451, later ones 250
        server.slow_data(0.1)                             # every DATA answered 0.1 s late, from now on
        SmtpTestServer(pipelining=False)                  # a server that does not offer PIPELINING (RFC 2920)
        ... SmtpTransport(server.smtp_settings(username="alertd"), "s3cret") ...
        assert server.messages[0].rcpt_tos == ("rssi@chu.example",)

Tests use it through the ``smtp_server`` fixture of ``conftest.py``, which stops every server it started.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ssl
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from alertd.domain.settings import SmtpSecurity, SmtpSettings

TlsMode = Literal["starttls", "tls", "none"]
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the server accepted: envelope, bytes as received, and how the session was set up."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None  # the AUTH user of the session, None if it did not log in
    tls: bool  # whether the session was encrypted (implicit TLS or STARTTLS)


class _Handler:
    """aiosmtpd hooks: scripted RCPT and DATA replies, and the record of accepted messages."""

    def __init__(self, owner: SmtpTestServer) -> None:
        self._owner = owner

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._owner._next_rcpt_reply(address)
        if reply is None or reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
            return reply or "250 OK"
        return reply

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # aiosmtpd reads pipelined commands in order from its buffer, but does not say PIPELINING itself.
        session.host_name = hostname
        if not self._owner.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply, stall = self._owner._next_data_reply()
        if stall:
            await asyncio.sleep(stall)
        if self._owner._data_delay:
            await asyncio.sleep(self._owner._data_delay)
        if reply is not None and not reply.startswith("2"):
            return reply
        transport = server.transport
        self._owner._record(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                login=session.auth_data if session.authenticated else None,
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            )
        )
        return reply or "250 2.0.0 OK queued"


class _Session(SMTP):
    """aiosmtpd's session, noting each read that brought a whole envelope (MAIL FROM … DATA): a pipelined one."""

    owner: SmtpTestServer | None = None

    def data_received(self, data: bytes) -> None:
        if self.owner is not None and data.startswith(b"MAIL FROM:") and data.endswith(b"DATA\r\n"):
            self.owner._pipelined()
        super().data_received(data)


class _Controller(Controller):
    """aiosmtpd's threaded controller, bound to a free port and counting the connections it accepts."""

    def __init__(self, owner: SmtpTestServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=0, server_hostname="smtp-test.localhost", **kwargs)
        self._owner = owner

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": deliberate for tls="none" test servers.
            warnings.simplefilter("ignore", UserWarning)
            smtpd = _Session(self.handler, **self.SMTP_kwargs)
        smtpd.owner = self._owner
        self._owner._connected(smtpd)
        return smtpd

    def _trigger_server(self) -> None:
        # Bound to port 0: learn the real port before aiosmtpd's start-up probe connects to it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpTestServer:
    """A real SMTP server on 127.0.0.1 with a trustme certificate, optional AUTH and scripted replies.

    ``tls`` is ``starttls`` (STARTTLS offered and required before anything else), ``tls`` (implicit TLS) or
    ``none``. ``auth`` maps user names to passwords; when given, AUTH is required before MAIL (and, with
    ``starttls``, offered only after STARTTLS). ``ca`` is the trustme CA that issues the server certificate (a
    new one by default) for ``cert_names``; the CA's PEM is at :attr:`ca_pem_path` while the server runs.
    PIPELINING (RFC 2920) is offered unless ``pipelining`` is False.
    """

    host: str = HOST

    def __init__(
        self,
        *,
        tls: TlsMode = "starttls",
        auth: dict[str, str] | None = None,
        ca: trustme.CA | None = None,
        cert_names: tuple[str, ...] = (HOST, "localhost"),
        timeout: float = 10.0,
        pipelining: bool = True,
    ) -> None:
        self.tls: TlsMode = tls
        self.pipelining = pipelining
        self.auth = dict(auth) if auth is not None else None
        self.ca = ca if ca is not None else trustme.CA()
        self.cert_names = cert_names
        self._timeout = timeout
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._connections = 0
        self._envelopes_pipelined = 0
        self._sessions: list[SMTP] = []
        self._rejected: dict[str, str] = {}
        self._rcpt_script: collections.deque[str | None] = collections.deque()
        self._data_script: collections.deque[str | None] = collections.deque()
        self._data_stall = 0.0
        self._data_delay = 0.0
        self._echo_auth = False
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._controller: _Controller | None = None
        self._ca_pem_path: Path | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> SmtpTestServer:
        """Start listening; returns self."""
        if self._controller is not None:
            raise RuntimeError("the SMTP test server is already running")
        self._tmp = tempfile.TemporaryDirectory(prefix="smtp-test-")
        self._ca_pem_path = Path(self._tmp.name) / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self._ca_pem_path))
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.cert_names).configure_cert(server_context)
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if self.tls == "tls":
            kwargs["ssl_context"] = server_context
        elif self.tls == "starttls":
            kwargs["tls_context"] = server_context
            kwargs["require_starttls"] = True
        if self.auth is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls, so implicit TLS must not ask for it.
            kwargs["auth_require_tls"] = self.tls == "starttls"
        controller = _Controller(self, _Handler(self), **kwargs)
        controller.start()
        self._controller = controller
        with self._lock:  # aiosmtpd's start-up probe is not a client
            self._connections = 0
            self._sessions.clear()
        return self

    def stop(self) -> None:
        """Close every client connection, stop the server and remove the CA file."""
        controller, self._controller = self._controller, None
        if controller is not None:
            self._close_sessions(controller)
            controller.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what a client needs ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (chosen by the OS)."""
        if self._controller is None:
            raise RuntimeError("the SMTP test server is not running")
        port: int = self._controller.port
        return port

    @property
    def ca_pem_path(self) -> Path:
        """The CA certificate (PEM) that issued the server's certificate, for ``SmtpSettings.ca_file``."""
        if self._ca_pem_path is None:
            raise RuntimeError("the SMTP test server is not running")
        return self._ca_pem_path

    def smtp_settings(
        self,
        *,
        username: str | None = None,
        ca_file: Path | None = None,
        security: TlsMode | None = None,
        timeout: float = 5.0,
    ) -> SmtpSettings:
        """Settings that reach this server: its host, port, security and CA (each may be overridden)."""
        return SmtpSettings(
            host=self.host,
            port=self.port,
            security=SmtpSecurity(security or self.tls),
            username=username,
            ca_file=ca_file or self.ca_pem_path,
            timeout=timeout,
        )

    # -- what happened ------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """The messages accepted so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._messages)

    @property
    def envelopes_pipelined(self) -> int:
        """How many envelopes (MAIL FROM, RCPT TO…, DATA) came in one read: sent pipelined."""
        with self._lock:
            return self._envelopes_pipelined

    @property
    def connections(self) -> int:
        """How many client connections the server has accepted."""
        with self._lock:
            return self._connections

    # -- scripting ----------------------------------------------------------------------------------

    def reject_recipient(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        """Answer ``reply`` to every ``RCPT TO`` for ``address`` (compared case-insensitively)."""
        with self._lock:
            self._rejected[address.lower()] = reply

    def script_rcpt(self, *replies: str | None) -> None:
        """Answer the next ``RCPT TO`` commands with ``replies`` in order (None: accept); then accept."""
        with self._lock:
            self._rcpt_script.extend(replies)

    def script_data(self, *replies: str | None) -> None:
        """Answer the next ``DATA`` commands with ``replies`` in order (None: accept); then accept."""
        with self._lock:
            self._data_script.extend(replies)

    def clear_scripts(self) -> None:
        """Forget the replies scripted and not yet given (a relay back to normal): accept from now on."""
        with self._lock:
            self._rcpt_script.clear()
            self._data_script.clear()

    def stall_data(self, seconds: float) -> None:
        """Wait ``seconds`` before answering the next ``DATA`` (to provoke client timeouts)."""
        with self._lock:
            self._data_stall = seconds

    def slow_data(self, seconds: float) -> None:
        """Wait ``seconds`` before answering every ``DATA`` from now on (a slow relay; 0 to stop)."""
        with self._lock:
            self._data_delay = seconds

    def echo_refused_auth(self) -> None:
        """Refuse a wrong login with a 535 that quotes the base64 the client sent, as some relays do."""
        with self._lock:
            self._echo_auth = True

    def disconnect_all(self) -> None:
        """Close every open client connection from the server side, as an idle timeout would."""
        if self._controller is not None:
            self._close_sessions(self._controller)

    # -- internals (called from the server thread) --------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.auth is not None
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if login in self.auth and self.auth[login] == password:
            return AuthResult(success=True, auth_data=login)
        if self._echo_auth:
            # What the client sent: \0user\0password for PLAIN, the password alone for LOGIN.
            sent = b"\0" + auth_data.login + b"\0" + auth_data.password if mechanism == "PLAIN" else auth_data.password
            echoed = base64.b64encode(sent).decode("ascii")
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 {mechanism} {echoed} rejected")
        return AuthResult(success=False, handled=False)

    def _connected(self, smtpd: SMTP) -> None:
        with self._lock:
            self._connections += 1
            self._sessions.append(smtpd)

    def _pipelined(self) -> None:
        with self._lock:
            self._envelopes_pipelined += 1

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def _next_rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            if (reply := self._rejected.get(address.lower())) is not None:
                return reply
            return self._rcpt_script.popleft() if self._rcpt_script else None

    def _next_data_reply(self) -> tuple[str | None, float]:
        with self._lock:
            stall, self._data_stall = self._data_stall, 0.0
            return (self._data_script.popleft() if self._data_script else None), stall

    def _close_sessions(self, controller: _Controller) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []

        async def close() -> None:
            for smtpd in sessions:
                if smtpd.transport is not None:
                    smtpd.transport.close()

        if controller.loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), controller.loop).result(timeout=5)


class SmtpServerFactory(Protocol):
    """The ``smtp_server`` fixture: start a :class:`SmtpTestServer` with these options."""

    def __call__(
        self,
        *,
        tls: TlsMode = "starttls",
        auth: dict[str, str] | None = None,
        ca: trustme.CA | None = None,
        cert_names: tuple[str, ...] = (HOST, "localhost"),
        timeout: float = 10.0,
        pipelining: bool = True,
    ) -> SmtpTestServer: ...


__all__ = ["ReceivedMessage", "SmtpServerFactory", "SmtpTestServer", "TlsMode"]
