"""The personal link of an email (contract §4, "Acknowledgements"): a token signed with HMAC-SHA256 over the
establishment, the email's reference and an expiry, and the form token the page derives from it.

Pure: the key and the time are passed in. A token is URL-safe base64 of its claims, a dot, and of their HMAC; it
is checked in constant time before anything of it is believed, and its size is capped before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Purposes mixed into the HMAC, so that a form token can never serve as a link token or the reverse.
_LINK = b"alertd ack link\x00"
_FORM = b"alertd ack form\x00"
MAX_TOKEN_CHARS = 600  # an establishment id and a reference are short; anything longer is refused unread
MIN_KEY_BYTES = 32


class BadToken(ValueError):
    """A token that is malformed, truncated, forged or signed with another key: the page says nothing more."""


class ExpiredToken(BadToken):
    """A genuine token past its expiry."""


class AckKey:
    """The links' signing key; its repr never shows it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise ValueError(f"the link key has {len(secret)} bytes; give at least {MIN_KEY_BYTES}")
        self._secret = secret

    def mac(self, purpose: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` for ``purpose``."""
        return hmac.new(self._secret, purpose + data, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "AckKey(<hidden>)"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a genuine token says: whose email, which one, until when."""

    establishment: str
    reference: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(key: AckKey, establishment: str, reference: str, expires: datetime) -> str:
    """The token of one establishment's email, valid until ``expires`` (to the second)."""
    claims = json.dumps([establishment, reference, int(expires.timestamp())], separators=(",", ":"))
    body = _b64(claims.encode("utf-8"))
    return f"{body}.{_b64(key.mac(_LINK, body.encode('ascii')))}"


def read_token(key: AckKey, token: str, now: datetime) -> LinkClaims:
    """The claims of a token this key signed; :class:`ExpiredToken` past its expiry, :class:`BadToken` for
    anything else (too long, malformed, truncated, forged, another key's)."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise BadToken("not a link token")
    body, dot, mac = token.partition(".")
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise BadToken("not a link token") from None
    if not dot or not hmac.compare_digest(given, key.mac(_LINK, body.encode("ascii"))):
        raise BadToken("not a link token")
    # Signed by this key: the claims are alertd's own.
    establishment, reference, expires = json.loads(_unb64(body))
    claims = LinkClaims(str(establishment), str(reference), datetime.fromtimestamp(int(expires), UTC))
    if now >= claims.expires:
        raise ExpiredToken("the link has expired")
    return claims


def form_token(key: AckKey, token: str) -> str:
    """The CSRF token the page's forms carry: bound to the link token, unusable as one."""
    return _b64(key.mac(_FORM, token.encode("ascii", "replace")))


def form_token_ok(key: AckKey, token: str, given: str) -> bool:
    """Whether a posted form token is the one :func:`form_token` gives for ``token`` (constant time)."""
    return hmac.compare_digest(form_token(key, token).encode(), given.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class AckLinks:
    """What the emails need to carry a link: the key, the page's published address and how long a link lives."""

    key: AckKey
    base_url: str
    ttl: timedelta

    def url(self, establishment: str, reference: str, now: datetime) -> str:
        """The personal link of one email, made at ``now``."""
        return f"{self.base_url}/{sign_token(self.key, establishment, reference, now + self.ttl)}"
