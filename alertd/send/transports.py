"""The delivery edge: hand a rendered email to a Maildir or an SMTP server (contract §2 ``delivery``, §4).

A :class:`Transport` takes the message as bytes, exactly as rendered, and either returns a :class:`SendResult`
(the server accepted it, perhaps for only some recipients) or raises :class:`TemporaryDeliveryError` (worth
retrying: 4xx, timeouts, disconnects, a full disk) or :class:`PermanentDeliveryError` (retrying will not help:
5xx, authentication refused, an untrusted certificate). The outbox decides what to do with each outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import os
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import aiosmtplib
import structlog

from alertd.domain.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from alertd.domain.redaction import Redactor
from alertd.domain.settings import DEFAULT_SMTP_POOL_SIZE, DeliveryMethod, Settings, SmtpSecurity, SmtpSettings
from alertd.intake.credentials import SecretFileError, read_secret
from alertd.send import pipelining

log = structlog.get_logger("alertd.deliver")

CREDENTIAL_NAME = "smtp-password"
"""The systemd credential (``LoadCredential=smtp-password:...``) read when the password file is absent."""

SMTP_POOL_SIZE = DEFAULT_SMTP_POOL_SIZE
"""Connections an :class:`SmtpTransport` keeps open unless ``delivery.smtp.pool_size`` says otherwise."""

MAILDIR_CONCURRENCY = 8
"""Writes a :class:`MaildirTransport` lets run at once: the fsyncs overlap, the file creation is serialised."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the server said about a message it accepted.

    ``refused`` maps each recipient the server turned down to its reply code and text; it is empty when every
    recipient was accepted. A 4xx code there means that recipient is worth retrying, a 5xx that it is not.
    ``reply`` is the server's final answer (often its queue id), or the Maildir key, for the audit trail.
    """

    refused: Mapping[str, tuple[int, str]] = field(default_factory=lambda: MappingProxyType({}))
    reply: str = ""


class Transport(Protocol):
    """Where rendered emails go: a Maildir or an SMTP server."""

    @property
    def concurrency(self) -> int:
        """How many :meth:`send` calls the caller may run at once (the outbox flush honours it)."""
        ...

    async def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> SendResult:
        """Hand ``message`` over to ``recipients``; raise a :class:`DeliveryError` subclass on failure."""
        ...

    async def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""
        ...

    def describe(self) -> str:
        """Where mail goes, for logs and CLI output, e.g. ``smtp smtp.example:587 (starttls)``."""
        ...


class MaildirTransport:
    """Write each message once into a Maildir's ``new/`` folder (tmp → new, as :mod:`mailbox` does)."""

    concurrency: int = MAILDIR_CONCURRENCY

    def __init__(self, path: Path) -> None:
        self._path = path
        self._maildir: mailbox.Maildir | None = None
        # mailbox.Maildir is not thread-safe and its unique-name counter is a class attribute.
        self._write_lock = threading.Lock()

    def describe(self) -> str:
        """``maildir /var/lib/alertd/maildir``."""
        return f"maildir {self._path}"

    def __repr__(self) -> str:
        return f"<MaildirTransport {self._path}>"

    async def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> SendResult:
        """Store ``message`` (one file whatever the number of recipients); OSError → temporary failure."""
        if not recipients:
            raise PermanentDeliveryError(f"{self.describe()}: the message has no recipient")
        try:
            key = await asyncio.to_thread(self._write, message)
        except (OSError, mailbox.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise TemporaryDeliveryError(f"{self.describe()}: cannot write the message: {reason}") from exc
        return SendResult(reply=f"maildir key {key}")

    async def close(self) -> None:
        """Nothing to release; present for the :class:`Transport` protocol."""

    def _write(self, message: bytes) -> str:
        with self._write_lock:
            if self._maildir is None:
                # Maildir(create=True) creates only a missing folder; an existing empty one needs subfolders.
                for sub in ("tmp", "new", "cur"):
                    (self._path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
                self._maildir = mailbox.Maildir(self._path, factory=None, create=True)
            key = self._maildir.add(message)
        # The outbox marks the alert sent once this returns, so the file must survive a power cut.
        new = self._path / "new"
        # mailbox creates it 0666 less the umask: an email may carry TLP:AMBER findings, for alertd's user only.
        (new / key).chmod(0o600)
        _fsync(new / key)
        _fsync(new)
        return key


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class _Lease:
    """A connection taken from the pool for one send; ``client`` is None until one is open."""

    client: aiosmtplib.SMTP | None
    generation: int


class SmtpTransport:
    """Send through one SMTP server over a small pool of reused connections.

    Up to ``pool_size`` sends run at once (:attr:`concurrency`), each on a connection of its own: an idle one
    if there is one, a new one otherwise. A connection goes back to the pool after a send, or after a refusal
    (aiosmtplib has sent RSET, so the dialogue is in step); one that failed half-way, timed out or was closed
    by the server is dropped and replaced by the next send. Each send has ``settings.timeout`` seconds,
    connecting included. Where the server offers PIPELINING, a send takes two round trips
    (:mod:`~alertd.send.pipelining`).

    The sends of the pool overlap to the end: up to ``pool_size`` messages may be accepted by the server and not
    yet recorded by the outbox, so a crash (kill -9) duplicates at most ``pool_size`` emails (contract §4).

    ``security`` is ``starttls`` (plain connect, then STARTTLS, refused if the server does not offer it),
    ``tls`` (implicit TLS) or ``none`` (allowed only to loopback by the config). Certificates are always
    verified, host name included, against ``ca_file`` or the system's trust store.
    """

    def __init__(self, settings: SmtpSettings, password: str | None, *, pool_size: int | None = None) -> None:
        pool_size = settings.pool_size if pool_size is None else pool_size
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self._settings = settings
        self._password = password
        # A relay may echo what it was sent: the password is masked in every form AUTH sends it (base64...).
        self._redact = Redactor(password, username=settings.username)
        self.concurrency: int = pool_size
        if settings.username and password is None:
            raise PermanentDeliveryError(
                f"{self.describe()}: 'username' is set but there is no password; "
                f"set delivery.smtp.password_file or provide the systemd credential {CREDENTIAL_NAME!r}"
            )
        self._tls_context: ssl.SSLContext | None = None
        if settings.security in (SmtpSecurity.STARTTLS, SmtpSecurity.TLS):
            try:
                self._tls_context = ssl.create_default_context(
                    cafile=str(settings.ca_file) if settings.ca_file else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise PermanentDeliveryError(
                    f"{self.describe()}: cannot load the CA file {settings.ca_file}: {exc}"
                ) from exc
            # Both are the defaults of create_default_context; stated so that no one relaxes them by accident.
            self._tls_context.check_hostname = True
            self._tls_context.verify_mode = ssl.CERT_REQUIRED
        elif settings.security is not SmtpSecurity.NONE:
            raise PermanentDeliveryError(f"unknown SMTP security {settings.security!r}; use starttls, tls or none")
        self._idle: list[aiosmtplib.SMTP] = []  # most recently used last: it is the likeliest to be alive
        self._slots = asyncio.Semaphore(pool_size)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the pool's connections belong to
        self._generation = 0  # bumped by close(): connections leased before are not pooled again

    def describe(self) -> str:
        """``smtp smtp.example:587 (starttls)``, with the user name when there is one (never the password)."""
        s = self._settings
        host = f"[{s.host}]" if ":" in s.host else s.host
        user = f", user {s.username}" if s.username else ""
        return f"smtp {host}:{s.port} ({s.security}{user})"

    def __repr__(self) -> str:
        return f"<SmtpTransport {self.describe()}, pool of {self.concurrency}>"

    async def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> SendResult:
        """Send ``message`` with ``sendmail`` within ``settings.timeout``; classify failures (module doc)."""
        if not recipients:
            raise PermanentDeliveryError(f"{self.describe()}: the message has no recipient")
        async with self._gate():
            lease = _Lease(self._take(), self._generation)
            try:
                async with asyncio.timeout(self._settings.timeout):
                    refused, reply = await self._transact(lease, message, sender, list(recipients))
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                # RSET sent and answered: the connection is in step and can be reused (a dialogue out of step was
                # closed, and a closed connection is not given back).
                self._give_back(lease)
                raise self._classify(exc) from exc
            except BaseException as exc:
                # Anything else (timeout, cancellation, disconnect) may leave the dialogue half-way.
                self._discard(lease)
                if isinstance(exc, Exception) and not isinstance(exc, DeliveryError):
                    raise self._classify(exc) from exc
                raise
            self._give_back(lease)
        return SendResult(
            refused=MappingProxyType({rcpt: (r.code, r.message) for rcpt, r in refused.items()}),
            reply=reply,
        )

    async def close(self) -> None:
        """Say QUIT on the idle connections and close them; connections in use are closed when their send ends."""
        self._generation += 1
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(client) for client in idle))

    async def _quit(self, client: aiosmtplib.SMTP) -> None:
        try:
            if client.is_connected:
                async with asyncio.timeout(min(self._settings.timeout, 5.0)):
                    await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass  # closing anyway
        finally:
            client.close()

    def _gate(self) -> asyncio.Semaphore:
        """The pool's semaphore; a transport used from a new event loop (a new ``asyncio.run``) starts afresh."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            stale, self._idle = self._idle, []
            for client in stale:  # they belong to a loop that is gone
                with contextlib.suppress(RuntimeError):
                    client.close()
            self._slots, self._loop = asyncio.Semaphore(self.concurrency), loop
        return self._slots

    def _take(self) -> aiosmtplib.SMTP | None:
        """An idle connection still open, or None; those the server closed meanwhile are dropped."""
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return None

    def _give_back(self, lease: _Lease) -> None:
        client, lease.client = lease.client, None
        if client is None:
            return
        if lease.generation == self._generation and client.is_connected and len(self._idle) < self.concurrency:
            self._idle.append(client)
        else:
            client.close()

    def _discard(self, lease: _Lease) -> None:
        client, lease.client = lease.client, None
        if client is not None:
            client.close()

    async def _transact(
        self, lease: _Lease, message: bytes, sender: str, recipients: list[str]
    ) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        reused = lease.client is not None
        if lease.client is None:
            lease.client = await self._connect()
        try:
            return await _sendmail(lease.client, sender, recipients, message)
        except ConnectionError:
            if not reused:
                raise
        # The server closed an idle connection before we noticed. Retrying at once is no riskier than the
        # outbox's own retry would be, and spares the message a backoff delay.
        log.debug("smtp connection dropped, reconnecting", server=self.describe())
        self._discard(lease)
        lease.client = await self._connect()
        return await _sendmail(lease.client, sender, recipients, message)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.security is SmtpSecurity.TLS,
            start_tls=False,  # done below, so that a server without STARTTLS is refused, not skipped
            tls_context=self._tls_context,
        )
        try:
            await client.connect()
            if s.security is SmtpSecurity.STARTTLS:
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise PermanentDeliveryError(
                        f"{self.describe()}: the server does not offer STARTTLS; "
                        "refusing to send in clear text (use security: tls if it expects implicit TLS)"
                    )
                await client.starttls()
            if s.username:
                await client.login(s.username, self._password or "")
        except BaseException:
            client.close()
            raise
        log.debug("smtp connected", server=self.describe())
        return client

    def _classify(self, exc: BaseException) -> DeliveryError:
        where = self.describe()
        permanent: bool
        text: str
        verify = _find(exc, ssl.SSLCertVerificationError)
        if verify is not None:
            permanent = True
            text = (
                f"the server's TLS certificate could not be verified ({verify.verify_message or verify}); "
                "check delivery.smtp.host, and set delivery.smtp.ca_file to the CA that issued it"
            )
        elif isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            # 454 is a temporary authentication failure (RFC 4954); 535 and the like: wrong credentials.
            permanent = exc.code >= 500
            text = (
                f"login as {self._settings.username!r} refused: {exc.code} {exc.message}; "
                "check delivery.smtp.username and the password file"
            )
        elif isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            permanent = all(r.code >= 500 for r in exc.recipients)
            listed = ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in exc.recipients)
            text = f"every recipient was refused: {listed}"
        elif isinstance(exc, aiosmtplib.SMTPResponseException):
            permanent = exc.code >= 500
            text = f"the server refused the message: {exc.code} {exc.message}"
        elif isinstance(exc, TimeoutError):
            permanent = False
            detail = f" ({exc})" if str(exc) else ""
            text = f"no answer within the {self._settings.timeout:g}s timeout{detail}"
        elif isinstance(exc, OSError):  # refused, reset, disconnected (aiosmtplib's are OSError too)
            permanent = False
            text = f"connection failed: {exc}"
        elif isinstance(exc, aiosmtplib.SMTPException | ValueError):
            # SMTPNotSupported (no SMTPUTF8, no AUTH), an address aiosmtplib will not send: configuration.
            permanent = True
            text = str(exc)
        else:
            permanent = False
            text = f"{type(exc).__name__}: {exc}"
        message = self._redact(f"{where}: {text}")
        # The original stays chained for tracebacks: masked too, since a traceback may be logged whole.
        _scrub(exc, self._redact)
        return PermanentDeliveryError(message) if permanent else TemporaryDeliveryError(message)


async def _sendmail(
    client: aiosmtplib.SMTP, sender: str, recipients: list[str], message: bytes
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """One mail transaction, pipelined where the server offers it (EHLO first if it was not said yet)."""
    if client.is_ehlo_or_helo_needed:
        with contextlib.suppress(aiosmtplib.SMTPHeloError):  # sendmail falls back to HELO
            await client.ehlo()
    if pipelining.offered(client):
        return await pipelining.sendmail(client, sender, recipients, message)
    return await client.sendmail(sender, recipients, message)


def _scrub(exc: BaseException, redact: Redactor) -> None:
    """Mask the secret in the texts of ``exc`` and of the exceptions chained to it, in place."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        for name in ("message", "strerror"):
            value = getattr(current, name, None)
            if isinstance(value, str):
                with contextlib.suppress(AttributeError):
                    setattr(current, name, redact(value))
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[ssl.SSLCertVerificationError]) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def read_password(path: Path | None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from ``path`` (trailing newline stripped), or from the systemd credential.

    When ``path`` is unset or does not exist, ``$CREDENTIALS_DIRECTORY/smtp-password`` is read if present.
    Returns None when neither exists and no file was configured; errors never quote the file's content.
    """
    env = os.environ if environ is None else environ
    try:
        found = read_secret(path, CREDENTIAL_NAME, environ=env)
    except SecretFileError as exc:
        raise PermanentDeliveryError(f"the SMTP password file {exc}") from None
    if found is not None:
        return found[1]
    if path is not None:
        raise PermanentDeliveryError(
            f"the SMTP password file {path} does not exist"
            + ("" if env.get("CREDENTIALS_DIRECTORY") else f", and no systemd credential {CREDENTIAL_NAME!r} is set")
        )
    return None


def make_transport(settings: Settings) -> Transport:
    """The transport ``settings.delivery_method`` names; the SMTP password is read here, once."""
    if settings.delivery_method is DeliveryMethod.MAILDIR:
        return MaildirTransport(settings.maildir)
    if settings.delivery_method is DeliveryMethod.SMTP:
        if settings.smtp is None:
            raise PermanentDeliveryError("delivery method 'smtp' needs a delivery.smtp section with at least 'host'")
        password = read_password(settings.smtp.password_file) if settings.smtp.username else None
        return SmtpTransport(settings.smtp, password)
    raise PermanentDeliveryError(f"unknown delivery method {settings.delivery_method!r}; use maildir or smtp")


__all__ = [
    "MAILDIR_CONCURRENCY",
    "SMTP_POOL_SIZE",
    "MaildirTransport",
    "SendResult",
    "SmtpTransport",
    "Transport",
    "make_transport",
    "read_password",
]
