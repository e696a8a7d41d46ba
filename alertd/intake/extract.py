"""Finding indicators in free text and in single feed cells (pure helpers shared by the feed parsers).

Advisories and bulletins write indicators defanged (``hxxps://evil[.]example``) and mixed with prose;
:func:`extract_indicators` refangs the text and pulls out CVE ids, addresses, networks, URLs, email
addresses, domains and hashes, each normalised the way the matcher compares them. :func:`indicator_for`
reads one CSV cell whose role the feed's column mapping already gives.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator

from alertd.domain.feeds import DEFAULT_MAX_ENTRY_BYTES, DEFAULT_MAX_FIELD_BYTES, INDICATOR_ROLES, ColumnRole
from alertd.domain.grammar import ASCII_LABEL, ASCII_TLD, CVE_IN_TEXT, DOMAIN_IN_TEXT, EMAIL_CELL, EMAIL_IN_TEXT
from alertd.domain.values import Indicator, IndicatorType

# Every expression here runs in time linear in its input: a feed is attacker-writable text, and a quadratic
# pattern over a 60,000-space cell held the interpreter lock for minutes (issue #13). So no pattern may let two
# quantifiers compete for the same characters (``\s*`` before an alternative that may fail), and every field is
# cut to these bounds before any expression reads it; a cut field keeps its start. These are the defaults: a feed
# may set its own (``max_field_bytes``, ``max_entry_bytes`` in feeds.yaml), which its parser passes as ``limit``.
MAX_TEXT = DEFAULT_MAX_FIELD_BYTES  # characters of one feed field (a cell, a title, a description) read
MAX_ENTRY_TEXT = DEFAULT_MAX_ENTRY_BYTES  # characters of an entry's joined text (title, summary, contents) read

# Defanging conventions seen in CERT bulletins and threat reports. The bracketed forms may carry spaces
# ("example [.] com", "soc [at] example.org") because writers put them there to break auto-linking; that
# whitespace is dropped by :func:`_replace_spaced`, by hand, since ``\s*[.]\s*`` backtracks quadratically.
_SPACED_DOT = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}", re.IGNORECASE)
_SPACED_AT = re.compile(r"\[at\]|\(at\)|\{at\}|\[@\]", re.IGNORECASE)
_REFANG: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\[://\]"), "://"),
    (_SPACED_DOT, "."),
    (re.compile(r"\[:\]"), ":"),
    (_SPACED_AT, "@"),
    (re.compile(r"\bhxxp(s?)\b", re.IGNORECASE), lambda m: "http" + m.group(1).lower()),
    # "fxp" is also the name of a real protocol, so only a scheme position is refanged.
    (re.compile(r"\bfxp(s?)(?=://)", re.IGNORECASE), lambda m: "ftp" + m.group(1).lower()),
)
_SPACED = frozenset({_SPACED_DOT, _SPACED_AT})

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?!\.?\w)(?!/\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(?:/(\d{1,3}))?(?![\w:])"
)
_HASH = re.compile(r"(?<![\w-])[0-9a-fA-F]{32,64}(?![\w-])")
_HASH_LENGTHS = frozenset({32, 40, 64})  # md5, sha1, sha256
_TRAILING = ".,;:!?'\"»"
_VERSION_CONTEXT = re.compile(r"version|build|release", re.IGNORECASE)
_ASN = re.compile(r"^(?:AS)?\s*(\d{1,10})$", re.IGNORECASE)

# Names that look like domains but are file names in advisories ("setup.exe", "report.pdf", "index.html").
# Country codes that are also extensions (.pl, .md, .rs, .sh, .cc, .pm) stay domains: hosts there are real;
# .py, .so, .zip and .mov are denied because file names far outnumber hosts in advisories.
_FILE_EXTENSIONS_TEXT = """
exe dll sys bat cmd vbs vbe js jse wsf wsh hta msi msp lnk scr cpl jar apk dmg iso img bin tmp dat bak
log txt ini cfg conf xml json yaml yml csv tsv htm html xhtml php asp aspx jsp cgi png jpg jpeg gif bmp
svg ico webp pdf doc docx docm dotm xls xlsx xlsm ppt pptx pptm rtf odt ods odp zip rar gz tgz tar xz
lzma py pyc bash psm elf so dylib ko deb rpm java class cpp hpp hh lua mov mpeg avi wav ogg tiff eml msg
pst ost vmdk vhd vhdx ova ovf pem crt cer der pfx csr ldif
"""
FILE_EXTENSIONS = frozenset(_FILE_EXTENSIONS_TEXT.split())


def refang(text: str) -> str:
    """Undo the usual defanging: ``hxxp``/``hxxps``/``fxp``, ``[.]`` ``(.)`` ``{.}`` ``[dot]`` (and the spaces
    around them), ``[:]``, ``[at]`` ``(at)`` ``[@]``. Linear in the length of ``text``, which is not cut here:
    callers bound what they pass (:data:`MAX_TEXT`)."""
    for pattern, replacement in _REFANG:
        if pattern in _SPACED:
            text = _replace_spaced(pattern, str(replacement), text)
        else:
            text = pattern.sub(replacement, text)
    return text


def _replace_spaced(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """``re.sub(r"\\s*(?:PATTERN)\\s*", replacement, text)`` in linear time: each match of ``pattern`` replaced,
    with the whitespace on either side of it dropped (each run of whitespace is stripped once)."""
    pieces: list[str] = []
    end = 0
    for m in pattern.finditer(text):
        between = text[end : m.start()]
        # Whitespace right after the previous token was already dropped with it.
        pieces.append((between.lstrip() if end else between).rstrip())
        pieces.append(replacement)
        end = m.end()
    if not pieces:
        return text
    pieces.append(text[end:].lstrip())
    return "".join(pieces)


def normalise_host(value: str) -> str | None:
    """A domain or URL host as the matcher compares it: lower-case, no trailing dot, IDNA-encoded; an IP
    literal comes back in its canonical form. None when the value is not a valid host name."""
    host = value.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    host = host.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253:
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(ASCII_LABEL.match(label) for label in labels):
        return None
    if not ASCII_TLD.match(labels[-1]):
        return None
    return host


def indicator_for(value: str, role: ColumnRole, limit: int = MAX_TEXT) -> Indicator | None:
    """One feed cell as an indicator, given its column role (one of :data:`~alertd.domain.feeds.INDICATOR_ROLES`:
    ``IP`` — possibly ``ip:port`` —, ``CIDR``, ``DOMAIN``/``HOST``, ``URL``, ``EMAIL``, ``ASN``, ``HASH``); None
    for an empty or invalid cell.

    A cell longer than ``limit`` characters (:data:`MAX_TEXT` unless the feed sets ``max_field_bytes``) is no
    indicator and reads as None, before any expression sees it.

    Raises ValueError for a role that names no indicator type (a programming error, not a feed error).
    """
    if len(value) > limit:
        value = value.strip()  # a value padded with spaces is still read; strip() is linear
        if len(value) > limit:
            return None
    cell = refang(value.strip().strip("\"'").strip())
    if not cell:
        return None
    if role is ColumnRole.IP:
        return _address_cell(cell)
    if role is ColumnRole.CIDR:
        return _network(cell)
    if role is ColumnRole.DOMAIN or role is ColumnRole.HOST:
        address = _address(cell)
        if address is not None:
            return address
        host = normalise_host(cell)
        return Indicator(IndicatorType.DOMAIN, host) if host else None
    if role is ColumnRole.URL:
        if "://" not in cell:
            cell = "http://" + cell
        url = _normalise_url(cell)
        return Indicator(IndicatorType.URL, url) if url else None
    if role is ColumnRole.EMAIL:
        found = EMAIL_CELL.match(cell)
        host = normalise_host(found.group(1)) if found else None
        if found is None or host is None:
            return None
        local = cell[: found.start(1) - 1]
        return Indicator(IndicatorType.EMAIL, f"{local.lower()}@{host}")
    if role is ColumnRole.ASN:
        found = _ASN.match(cell)
        if not found or not 0 < int(found.group(1)) < 2**32:
            return None
        return Indicator(IndicatorType.ASN, str(int(found.group(1))))
    if role is ColumnRole.HASH:
        text = cell.lower()
        if len(text) in _HASH_LENGTHS and all(c in "0123456789abcdef" for c in text):
            return Indicator(IndicatorType.HASH, text)
        return None
    raise ValueError(f"{str(role)!r} is not an indicator role; use one of: {', '.join(INDICATOR_ROLES)}")


def extract_indicators(text: str, limit: int = MAX_ENTRY_TEXT) -> tuple[Indicator, ...]:
    """Every indicator written in free text, refanged and normalised, without duplicates, in text order.

    URLs and email addresses are taken whole: the hosts inside them are not reported again as domains or
    addresses. CVE ids are also read inside URLs (vendor advisory links name them). Only the first ``limit``
    characters are read (:data:`MAX_ENTRY_TEXT` unless the caller says otherwise), in time linear in them.
    """
    text = refang(text[:limit])
    found: list[tuple[int, Indicator]] = [
        (m.start(), Indicator(IndicatorType.CVE, f"CVE-{m.group(1)}-{m.group(2)}")) for m in CVE_IN_TEXT.finditer(text)
    ]
    masked = list(text)

    def mask(start: int, end: int) -> None:
        masked[start:end] = " " * (end - start)

    for m in _URL.finditer(text):
        raw = _trim_url(m.group(0))
        url = _normalise_url(raw)
        if url is not None:
            found.append((m.start(), Indicator(IndicatorType.URL, url)))
        mask(m.start(), m.start() + len(raw))
    rest = "".join(masked)
    for m in EMAIL_IN_TEXT.finditer(rest):
        local, _, domain = m.group(0).rpartition("@")
        host = normalise_host(domain)
        if host is not None:
            found.append((m.start(), Indicator(IndicatorType.EMAIL, f"{local.lower()}@{host}")))
        mask(m.start(), m.end())
    rest = "".join(masked)
    for m in _IPV4.finditer(rest):
        if _VERSION_CONTEXT.search(rest, max(0, m.start() - 32), m.start()):
            mask(m.start(), m.end())  # "version 4.2.0.1" is not an address
            continue
        indicator = _network(m.group(0)) if m.group(2) else _address(m.group(1))
        if indicator is not None:
            found.append((m.start(), indicator))
        mask(m.start(), m.end())
    rest = "".join(masked)
    for m in _IPV6.finditer(rest):
        if not any(c in "0123456789abcdefABCDEF" for c in m.group(1)):
            continue
        indicator = _network(m.group(0)) if m.group(2) else _address(m.group(1))
        if indicator is not None and indicator.value not in ("::", "::/0"):
            found.append((m.start(), indicator))
            mask(m.start(), m.end())
    rest = "".join(masked)
    for m in _HASH.finditer(rest):
        if len(m.group(0)) in _HASH_LENGTHS:
            found.append((m.start(), Indicator(IndicatorType.HASH, m.group(0).lower())))
            mask(m.start(), m.end())
    rest = "".join(masked)
    for m in DOMAIN_IN_TEXT.finditer(rest):
        candidate = m.group(1)
        if candidate.rpartition(".")[2].lower() in FILE_EXTENSIONS:
            continue
        host = normalise_host(candidate)
        if host is not None:
            found.append((m.start(), Indicator(IndicatorType.DOMAIN, host)))
    found.sort(key=lambda pair: pair[0])
    return tuple(_unique(indicator for _, indicator in found))


def _unique(indicators: Iterable[Indicator]) -> Iterator[Indicator]:
    seen: set[Indicator] = set()
    for indicator in indicators:
        if indicator not in seen:
            seen.add(indicator)
            yield indicator


def _trim_url(url: str) -> str:
    """Drop the punctuation that ends the sentence around a URL, and unbalanced closing brackets.

    The brackets are counted once and the end walked back with the counts kept up to date: counting again
    for every character dropped was quadratic on a URL followed by thousands of ``)``.
    """
    counts = {c: url.count(c) for c in "()[]"}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _TRAILING:
            pass
        elif (last == ")" and counts["("] < counts[")"]) or (last == "]" and counts["["] < counts["]"]):
            counts[last] -= 1
        else:
            break
        end -= 1
    return url[:end]


_URL_PARTS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://([^/?#]*)(.*)$", re.DOTALL)


def _normalise_url(url: str) -> str | None:
    """The URL with its scheme and host lower-cased (and the host IDNA-encoded); None without a valid host."""
    found = _URL_PARTS.match(url)
    if not found:
        return None
    scheme, netloc, rest = found.groups()
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            return None
        host, port = hostport[: close + 1], hostport[close + 1 :]
    elif hostport.count(":") == 1:
        host, colon, digits = hostport.partition(":")
        port = colon + digits
    if port and not re.fullmatch(r":\d{0,5}", port):
        return None
    normal = normalise_host(host)
    if normal is None:
        return None
    if ":" in normal:
        normal = f"[{normal}]"
    return f"{scheme.lower()}://{userinfo}{at}{normal}{port}{rest}"


def _address(text: str) -> Indicator | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    kind = IndicatorType.IPV4 if address.version == 4 else IndicatorType.IPV6
    return Indicator(kind, str(address))


def _network(text: str) -> Indicator | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return Indicator(IndicatorType.CIDR, str(network))


def _address_cell(cell: str) -> Indicator | None:
    """An ``ip`` cell: an address, ``address:port``, ``[v6]:port``, or (leniently) a CIDR."""
    if "/" in cell:
        return _network(cell)
    direct = _address(cell)
    if direct is not None:
        return direct
    if cell.startswith("["):
        return _address(cell[1 : cell.find("]")]) if "]" in cell else None
    if cell.count(":") == 1:
        return _address(cell.partition(":")[0])
    return None


__all__ = [
    "FILE_EXTENSIONS",
    "MAX_ENTRY_TEXT",
    "MAX_TEXT",
    "extract_indicators",
    "indicator_for",
    "normalise_host",
    "refang",
]
