"""Defanging: indicators shown so that no mail client makes them clickable (``hxxp``, ``[.]``, ``[@]``, ``[:]``).

Feed text (titles, details) may repeat the raw indicators of the email: a scrubber built from the alerts replaces
them by their defanged form wherever they appear. Feed prose shown in full (an advisory's title and summary) may
also name hosts, addresses and links that are no indicator of the email: :func:`defang_text` defangs every word
of it that reads as one.

A host whose label mixes scripts ("сert-sante.example" with a Cyrillic "с") may imitate a name the reader trusts:
:func:`mixed_script_hosts` finds those in feed text, for the email to flag them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# The Unicode script of each character (Scripts.txt, with the Unicode release it ships): the standard library's
# unicodedata has names and categories, not scripts, and guessing a script from a character's name is wrong for
# many (the Cyrillic "Ӏ" is named "CYRILLIC LETTER PALOCHKA", the Latin "ĸ" "LATIN SMALL LETTER KRA" is fine).
from ahocorasick_rs import AhoCorasick, MatchKind
from confusable_homoglyphs import categories

from alertd.domain.grammar import DISPLAYED_EMAIL as _EMAIL
from alertd.domain.grammar import DISPLAYED_HOST as _DOMAIN
from alertd.domain.values import Alert, Indicator, IndicatorType
from alertd.intake.extract import FILE_EXTENSIONS

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_FANGED_SCHEMES = {"http": "hxxp", "https": "hxxps", "ftp": "fxp", "ftps": "fxps"}
# A URL written without its scheme: a host name or IPv4 address followed by a port, path, query or fragment.
_SCHEMELESS_URL = re.compile(r"^(?:[\w-]+\.)+[\w-]+(?::\d+)?[/?#]")
_DOT = re.compile(r"(?<!\[)\.(?!\])")  # lookarounds keep defang idempotent: "[.]" stays "[.]"
_AT = re.compile(r"(?<!\[)@(?!\])")
_COLON = re.compile(r"(?<!\[):(?!\])")
_BRACKETED_V6 = re.compile(r"\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\]")
_HOST_PORT = re.compile(r"^(?P<host>[^\s:/\[\]]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


def _dots(text: str) -> str:
    return _DOT.sub("[.]", text)


def _defang_ipv6(text: str) -> str:
    return _dots(_COLON.sub("[:]", text))


def _defang_email(text: str) -> str:
    return _dots(_AT.sub("[@]", text))


def _defang_url(text: str) -> str:
    found = _SCHEME.match(text)
    prefix, rest = "", text
    if found:
        scheme = found.group(1)
        prefix = _FANGED_SCHEMES.get(scheme.lower(), scheme) + "://"
        rest = text[found.end() :]
    # An IPv6 literal host ("[2001:db8::1]") loses its colons before the dots are bracketed.
    rest = _BRACKETED_V6.sub(lambda m: "[" + _COLON.sub("[:]", m.group(1)) + "]", rest, count=1)
    return prefix + _dots(_AT.sub("[@]", rest))


def _defang_address(text: str) -> str:
    return _defang_ipv6(text) if ":" in text else _dots(text)


def defang(value: str) -> str:
    """Make a URL, host, domain, IP or email address unclickable (``hxxp``, ``[.]``, ``[@]``, ``[:]``).

    Anything else — CVE ids, hashes, product and organisation names — is returned unchanged.
    """
    text = value.strip()
    if _SCHEME.match(text) or _SCHEMELESS_URL.match(text):
        return _defang_url(value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    else:
        return _defang_address(value)
    if _EMAIL.match(text):
        return _defang_email(value)
    if _DOMAIN.match(text):
        return _dots(value)
    found = _HOST_PORT.match(text)
    if found:
        host = found.group("host")
        inner = host.strip("[]")
        if host.startswith("["):
            return "[" + _defang_ipv6(inner) + "]:" + found.group("port")
        if defang(host) != host:
            return defang(host) + ":" + found.group("port")
    return value


_WORDS = re.compile(r"(\s+)")
_OPENING = "([{<«\"'“‘"
_CLOSING = ".,;:!?)]}>»\"'”’"
_FILES = frozenset(FILE_EXTENSIONS)


def defang_text(text: str) -> str:
    """Feed prose with every word that reads as a URL, an address, a host or an email address defanged, where it
    is: "le serveur 198.51.100.77." → "le serveur 198[.]51[.]100[.]77.". Words that name a file (``setup.exe``)
    stay as written. Linear in the text, which callers cut first."""
    out = []
    for word in _WORDS.split(text):
        core = word.lstrip(_OPENING).rstrip(_CLOSING)
        if not core or core.isspace() or ("." not in core and ":" not in core and "@" not in core):
            out.append(word)
            continue
        start = word.index(core)
        head, tail = word[:start], word[start + len(core) :]
        if "\\" in core:  # a UNC path (\\host\share): Outlook opens it, and sends the reader's credentials
            out.append(head + _dots(core) + tail)
            continue
        inner = _link_start(core)
        if inner > 0:  # "foo(https://…", "x=https://…": a mail client makes a link from the scheme on
            out.append(head + core[:inner] + _defang_url(core[inner:]) + tail)
            continue
        last = core.rpartition(".")[2].lower()
        if (
            "://" not in core
            and "/" not in core
            and (last in _FILES or (len(last) < 2 and not last.isdigit() and ":" not in core))
        ):  # a file; "e.g."
            out.append(word)
            continue
        out.append(head + defang(core) + tail)
    return "".join(out)


def _link_start(core: str) -> int:
    """Where the URL inside a word starts: its scheme before the first "://" (-1 for none). Linear in the word."""
    at = core.find("://")
    start = at
    while start > 0 and core[start - 1].isascii() and (core[start - 1].isalnum() or core[start - 1] in "+.-"):
        start -= 1
    return start if at > 0 else -1


def defang_indicator(ind: Indicator) -> str:
    """An indicator defanged by its type; CVEs, hashes, products, names and ASNs stay as they are."""
    match ind.type:
        case IndicatorType.URL:
            return _defang_url(ind.value)
        case IndicatorType.DOMAIN:
            return _dots(ind.value)
        case IndicatorType.IPV4:
            return _dots(ind.value)
        case IndicatorType.IPV6:
            return _defang_ipv6(ind.value)
        case IndicatorType.CIDR:
            return _defang_address(ind.value)
        case IndicatorType.EMAIL:
            return _defang_email(ind.value)
        case _:
            return ind.value


@dataclass(frozen=True, slots=True)
class Scrubber:
    """The email's raw indicators (lower-cased) in one Aho-Corasick automaton, and the defanged form of each.

    One pass over a text finds them all, whatever their number: a mass event's email has 8,000 indicators and
    40,000 feed texts, and a pattern per indicator made that 320 million searches (minutes of rendering).
    """

    automaton: AhoCorasick | None
    shown: tuple[str, ...]


def scrubber(alerts: Sequence[Alert]) -> Scrubber:
    """What replaces every raw indicator of the email by its defanged form inside feed text."""
    pairs = {}
    for alert in alerts:
        ind = alert.finding.indicator
        shown = defang_indicator(ind)
        if ind.value and shown != ind.value:
            pairs[ind.value] = shown
        # The host of a URL and the domain of an address are as clickable as the whole value.
        host = None
        if ind.type is IndicatorType.URL:
            with contextlib.suppress(ValueError):
                host = urlsplit(ind.value if "://" in ind.value else "//" + ind.value).hostname
        elif ind.type is IndicatorType.EMAIL:
            host = ind.value.rpartition("@")[2]
        if host and defang(host) != host:
            pairs.setdefault(host, defang(host))
    lowered: dict[str, str] = {}
    for raw in sorted(pairs, key=lambda r: -len(r)):
        lowered.setdefault(_lower(raw), pairs[raw])
    if not lowered:
        return Scrubber(None, ())
    # Leftmost-longest: a URL is replaced whole before the host inside it could be.
    return Scrubber(AhoCorasick(list(lowered), matchkind=MatchKind.LeftmostLongest), tuple(lowered.values()))


def _lower(text: str) -> str:
    """``text`` lower-cased character by character, its length kept (a match's offsets are the text's): the rare
    character whose lower case is longer ("İ") stays as written."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def scrub(text: str, patterns: Scrubber) -> str:
    """``text`` (a title, a detail from a feed) with the email's indicators in it defanged, case-insensitively;
    one pass, linear in the text."""
    if patterns.automaton is None or not text:
        return text
    out: list[str] = []
    last = 0
    for index, start, end in patterns.automaton.find_matches_as_indexes(_lower(text)):
        out += (text[last:start], patterns.shown[index])
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# Characters of every script (digits, "-") and combining marks: no script of their own (UTS #24).
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# The script mixes written together in one label for real (UTS #39 "highly restrictive"): Latin with the scripts
# of Japanese, Chinese and Korean. Any other mix (Latin and Cyrillic, Latin and Greek) is a homograph's mark.
_WRITTEN_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_LABEL_DOTS = re.compile(r"[.\u3002\uff0e\uff61]")  # IDNA's label separators: "." and the ideographic full stops
# A word's host: after an optional scheme and user part, up to the port, path, query or fragment. Anchored, each
# part scanned once: linear in the word.
_WORD_HOST = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^/?#@\s]*@)?(?P<host>[^/?#:\s\[\]]+)")
_REFANG = (("[.]", "."), ("[@]", "@"), ("[:]", ":"))


def _label_scripts(label: str) -> frozenset[str]:
    if label[:4].lower() == "xn--":
        with contextlib.suppress(UnicodeError, ValueError):  # not punycode after all: read as written
            label = label[4:].encode("ascii").decode("punycode")
    if label.isascii():
        return frozenset({"LATIN"} if any(c.isalpha() for c in label) else ())
    return frozenset(categories.unique_aliases(label)) - _NEUTRAL_SCRIPTS


def mixed_script(host: str) -> bool:
    """Whether a host name has a label that mixes scripts (Latin and Cyrillic in "сert-sante.example"), as written
    or once an IDNA label (``xn--...``) is decoded; Latin written with Japanese, Chinese or Korean is not."""
    for label in _LABEL_DOTS.split(host):
        scripts = _label_scripts(label)
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _WRITTEN_TOGETHER):
            return True
    return False


def mixed_script_hosts(text: str) -> list[str]:
    """The hosts named in ``text`` (alone, in a URL or in an email address, defanged or not) that mix scripts, in
    order, each once. Linear in the text, which callers cut first."""
    found: dict[str, None] = {}
    for word in text.split():
        core = word.lstrip(_OPENING).rstrip(_CLOSING)
        # Only a word with a character beyond ASCII, or an IDNA label, can mix scripts.
        if core.isascii() and "xn--" not in core.lower():
            continue
        for fanged, plain in _REFANG:  # a defanged word names its host as well
            core = core.replace(fanged, plain)
        match = _WORD_HOST.match(core)
        if match is None:
            continue
        host = match.group("host")
        if _LABEL_DOTS.search(host) and mixed_script(host):
            found.setdefault(host)
    return list(found)
