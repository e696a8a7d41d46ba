"""``alertd.yaml`` as values: time zone, paths, sender, delivery, signing, TLP."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from alertd.domain.tlp import Tlp
from alertd.domain.values import Severity


class DeliveryMethod(enum.StrEnum):
    """Where emails go: files in a Maildir (the embedded default) or an SMTP server."""

    MAILDIR = "maildir"
    SMTP = "smtp"


class SmtpSecurity(enum.StrEnum):
    """How the SMTP connection is protected; ``none`` is accepted only towards the loopback."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


DEFAULT_RENOTIFY: Mapping[Severity, timedelta | None] = MappingProxyType(
    {
        Severity.IMMINENT: timedelta(days=1),
        Severity.CRITICAL: timedelta(days=7),
        Severity.HIGH: timedelta(days=30),
        Severity.INFO: None,
    }
)


# Connections to the SMTP relay (contract §2 ``delivery.smtp.pool_size``): also the most emails a crash may send
# twice (contract §4), since each connection may have one accepted and not yet recorded. 8: through 10 ms of
# round-trip time, 2,000 emails took 24 s to send with 4 connections, 14 s with 8, 9 s with 16 (bench/relay.py);
# 8 stays under the 10 connections per client that relays commonly allow.
DEFAULT_SMTP_POOL_SIZE = 8
MAX_SMTP_POOL_SIZE = 32


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    timeout: float = 30.0
    pool_size: int = DEFAULT_SMTP_POOL_SIZE


@dataclass(frozen=True, slots=True)
class SigningSettings:
    """PGP/MIME signing of every email (optional): the key in a GnuPG home under ``state_dir``."""

    gnupg_home: Path
    key: str | None = None
    passphrase_file: Path | None = None


DEFAULT_REFERENCE_PREFIX = "ALERTD"
# The whole message as sent, attachments included: relays commonly refuse mail over 10 MB (contract §4).
DEFAULT_MAX_MESSAGE_BYTES = 10_000_000
# How long the oldest email may wait in the outbox, with no send accepted for as long, before /healthz says delivery
# is failing (contract §6): the retry schedule's first six attempts (30 s, 1, 2, 4, 8, 16 min) span about 30 min.
DEFAULT_DELIVERY_FAILING_AFTER = timedelta(minutes=30)
# How long what left the feeds (delisted entries, resolved findings) is kept before it is pruned (contract §1).
DEFAULT_RETENTION = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """``backups``: how often the daemon backs the store up (None: never), how many backups it keeps, and where
    (None: ``state_dir/backups``)."""

    every: timedelta | None = timedelta(hours=6)
    keep: int = 7
    folder: Path | None = None


DEFAULT_BACKUPS = BackupSettings()


@dataclass(frozen=True, slots=True)
class BulletinSettings:
    """How the emails present the CERT (``bulletin`` in ``alertd.yaml``): the prefix of each email's reference
    (``CERTSANTE-2026-ALE-0042``), and how to reach the CERT beyond its email address: a phone number, an on-call
    line, and where an establishment declares an incident (the health sector's mandatory declaration)."""

    reference_prefix: str = DEFAULT_REFERENCE_PREFIX
    phone: str | None = None
    on_call: str | None = None
    incident_url: str | None = None


DEFAULT_BULLETIN = BulletinSettings()


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """What the render stage needs of ``alertd.yaml``: the time zone of the dates shown, who signs the email, and
    how the emails present the CERT."""

    timezone: ZoneInfo
    sender_from: str
    reply_to: str | None
    organisation: str
    bulletin: BulletinSettings = DEFAULT_BULLETIN
    # Domains an email may link to beyond the CERT's configured URLs and the known sources (render/links.py):
    # ``links.allowed_domains``, and the CSAF providers' sites the service adds from the feeds.
    link_domains: frozenset[str] = frozenset()
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


# How long an email's personal link stays usable (``web.link_ttl``): a month covers an establishment that reads its
# warnings after a holiday; past it, the reply address still works.
DEFAULT_LINK_TTL = timedelta(days=30)
# Requests of the acknowledgement page allowed per source address, and per link (``web.rate_limit``, the syntax of
# the limits library): a reader clicks a few times; a mail scanner opening every link of a batch stays under it.
DEFAULT_WEB_RATE_LIMIT = "30/minute"
DEFAULT_LINK_KEY = "ack-link-key"  # the systemd credential holding the links' signing key
# How long an inhibition accepted from a "not us" response lasts unless the operator says (``web.proposal_expiry``):
# a season of the same false positive silenced, and a mistaken one does not hide a real attack for good.
DEFAULT_PROPOSAL_EXPIRY = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """``web``: the acknowledgement page (contract §4, "Acknowledgements"): where it listens, the address the
    CERT's reverse proxy publishes it at, the credential holding the links' signing key, how long a link lives,
    the rate limit, and the proxies whose ``X-Forwarded-For`` is believed."""

    listen: str
    base_url: str
    key: str = DEFAULT_LINK_KEY  # the systemd credential's name
    key_file: Path | None = None  # read first when it exists (a deployment without systemd credentials)
    link_ttl: timedelta = DEFAULT_LINK_TTL
    rate_limit: str = DEFAULT_WEB_RATE_LIMIT
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks (127.0.0.1, 10.0.0.0/8)
    proposal_expiry: timedelta = DEFAULT_PROPOSAL_EXPIRY  # an accepted "not us" inhibition's default lifetime


# How long a warning may wait for a response through its link before it is escalated (``escalation.delays``):
# an imminent attack is phoned about the same working day; the other severities are not escalated unless set.
DEFAULT_ESCALATION_DELAYS: Mapping[Severity, timedelta] = MappingProxyType({Severity.IMMINENT: timedelta(hours=4)})


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    """``escalation``: the delay per severity, and the business time it is counted in when one is set (local
    ``business_hours`` on ``business_days`` but ``holidays``; without them, every hour counts)."""

    delays: Mapping[Severity, timedelta] = field(default_factory=lambda: DEFAULT_ESCALATION_DELAYS)
    business_hours: tuple[time, time] | None = None
    business_days: frozenset[int] | None = None  # ISO weekdays; None: every day
    holidays: frozenset[date] = frozenset()


DEFAULT_ESCALATION = EscalationSettings()


@dataclass(frozen=True, slots=True)
class Settings:
    """``alertd.yaml`` with every path made absolute."""

    path: Path
    timezone: ZoneInfo
    state_dir: Path
    feeds_file: Path
    registry_path: Path
    subscriptions_file: Path
    inhibitions_file: Path | None
    allowlist_file: Path | None
    templates_dir: Path | None
    operators: tuple[str, ...]
    renotify: Mapping[Severity, timedelta | None]
    sender_from: str
    reply_to: str | None
    delivery_method: DeliveryMethod
    maildir: Path
    smtp: SmtpSettings | None
    http_listen: str | None
    tlp: Tlp
    organisation: str
    signing: SigningSettings | None = None
    bulletin: BulletinSettings = DEFAULT_BULLETIN
    link_domains: frozenset[str] = frozenset()  # ``links.allowed_domains``: the CERT's other sites
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # ``delivery.max_message_bytes``
    retention: timedelta | None = DEFAULT_RETENTION  # None: ``retention: never``, nothing is pruned
    backups: BackupSettings = DEFAULT_BACKUPS  # ``backups``
    delivery_failing_after: timedelta = DEFAULT_DELIVERY_FAILING_AFTER  # ``delivery.failing_after``
    web: WebSettings | None = None  # ``web``: None, no link in the emails and no page
    escalation: EscalationSettings = DEFAULT_ESCALATION  # ``escalation``

    @property
    def backup_folder(self) -> Path:
        """Where the store's backups go."""
        return self.backups.folder or self.state_dir / "backups"

    @property
    def render(self) -> RenderSettings:
        """What rendering an email needs of these settings."""
        return RenderSettings(
            self.timezone,
            self.sender_from,
            self.reply_to,
            self.organisation,
            self.bulletin,
            self.link_domains,
            self.max_message_bytes,
        )
