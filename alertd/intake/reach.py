"""Where a fetch may go, and what of a server's answer may be repeated (contract §2, "Reach").

A feed's URL is the operator's choice; where it leads is the server's. Three rules keep a hostile server from
turning the daemon into a probe of the CERT's own network, or into a mouthpiece:

- **Addresses.** A redirect, and a document an index lists, may only reach a global address (``ipaddress``
  ``is_global``: no loopback, link-local, private, unique-local, shared or reserved range), unless the feed's own
  URL is itself on such an address (an intranet mirror; the tests and ``make run`` on loopback).
- **Origins.** The documents an index lists are fetched from the index's own origin (scheme, host and port)
  only, unless the feed names other hosts in ``allow_hosts``.
- **Words.** What is stored, logged or told of a failure is a bounded, cleaned status line (code and reason),
  a host, and our own words: never a response body, never a URL the server chose.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: What is kept of a server's reason phrase ("Internal Server Error"): printable ASCII, this long at most.
MAX_REASON = 40
#: What is kept of a host named in a message (a DNS name is at most 253 characters).
MAX_HOST = 253
#: What is kept of any error text stored or shown: our messages fit; a runaway one is cut.
MAX_ERROR = 600

_REASON_CHARS = re.compile(r"[^A-Za-z0-9 '()./-]+")
_HOST_CHARS = re.compile(r"[^A-Za-z0-9.:\[\]_-]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# An allow_hosts entry: a DNS name (``*.`` allowed in front: that domain's sub-domains), an IPv4 address or a
# bracketed IPv6 one, then an optional port.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ALLOWED = re.compile(rf"^(?P<host>(?:\*\.)?{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?$")


class Refused(Exception):
    """A target the rules refuse; the message is our own words and a cleaned host."""


def address(text: str) -> Address | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 address as the IPv4 one it maps); None for a host name."""
    try:
        found = ipaddress.ip_address(text.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever is_global says of the IPv6 form
    return found


def is_inside(addr: Address) -> bool:
    """True for an address outside the global internet: loopback, link-local, private, unique-local, shared,
    reserved, or multicast."""
    return not addr.is_global or addr.is_multicast


def check_address(addr: Address, host: str, inside_ok: bool) -> None:
    """Raise :class:`Refused` when ``addr`` (an address of ``host``) is inside and ``inside_ok`` is False."""
    if is_inside(addr) and not inside_ok:
        raise Refused(
            f"{clean_host(host)} is on a non-global address ({addr}); only a feed whose own url is on such an "
            "address may lead there"
        )


async def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` resolves to (an IP literal: itself); :class:`Refused` when it does not resolve."""
    literal = address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"{clean_host(host)} does not resolve") from None
    found = [address(str(info[4][0])) for info in infos]
    return [a for a in found if a is not None]


def origin(url: str) -> tuple[str, str, int] | None:
    """A URL's origin: scheme, host (lower case) and port (the scheme's default when none is written)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def valid_allowed_host(entry: str) -> bool:
    """True when ``entry`` is an ``allow_hosts`` entry: ``host``, ``*.domain``, an address, then ``:port``."""
    found = _ALLOWED.match(entry.lower())
    if found is None:
        return False
    port = found.group("port")
    return port is None or 0 < int(port) < 65536


def document_allowed(url: str, index_urls: Iterable[str], allow_hosts: Iterable[str]) -> bool:
    """Whether an index may have the document at ``url`` fetched: on the origin of one of ``index_urls`` (the
    feed's url, and where it was served from after redirects), or on a host the feed allows (``host`` on the
    scheme's default port, ``host:port`` on that port, ``*.domain`` for its sub-domains)."""
    target = origin(url)
    if target is None:
        return False
    if any(origin(index) == target for index in index_urls):
        return True
    scheme, host, port = target
    for entry in allow_hosts:
        pattern, written = split_allowed(entry)
        if port != (written or _DEFAULT_PORTS[scheme]):
            continue
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def split_allowed(entry: str) -> tuple[str, int | None]:
    """An ``allow_hosts`` entry as its host (lower case, an IPv6 address without brackets) and port (None when
    not written)."""
    found = _ALLOWED.match(entry.lower())
    if found is None:
        return "", None
    port = found.group("port")
    return found.group("host").strip("[]"), int(port) if port else None


def clean_host(host: str) -> str:
    """A host fit for a message: the characters a host name or address is written with, bounded."""
    return _HOST_CHARS.sub("?", host)[:MAX_HOST] or "?"


def host_of(url: str) -> str:
    """The cleaned host of ``url`` (``?`` when it has none)."""
    try:
        return clean_host(urlsplit(url).hostname or "")
    except ValueError:
        return "?"


def status_line(status: int, reason: str) -> str:
    """``HTTP 500 Internal Server Error``: the code and a cleaned, bounded reason phrase."""
    cleaned = " ".join(_REASON_CHARS.sub(" ", reason).split())[:MAX_REASON]
    return f"HTTP {status} {cleaned}".rstrip()


def public_text(text: str) -> str:
    """An error text fit to store and show: control and format characters (bidi marks, zero-width) replaced,
    whitespace collapsed, cut at :data:`MAX_ERROR` characters."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text[: MAX_ERROR * 4])
    kept = " ".join(kept.split())
    return kept if len(kept) <= MAX_ERROR else kept[: MAX_ERROR - 1] + "…"


__all__ = [
    "MAX_ERROR",
    "Address",
    "Refused",
    "address",
    "check_address",
    "clean_host",
    "document_allowed",
    "host_of",
    "is_inside",
    "origin",
    "public_text",
    "resolve",
    "split_allowed",
    "status_line",
    "valid_allowed_host",
]
