"""CPE names (NISTIR 7695): a CPE 2.3 formatted string or a CPE 2.2 URI, read into one typed value.

NVD configurations, CSAF product helpers and the registry's ``software`` items all name products this way;
each reads them through :func:`parse_cpe` and then applies its own rule (the registry takes 2.3 strings only,
the feed readers need a vendor and a product).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

FORMATTED_PREFIX = "cpe:2.3:"
URI_PREFIX = "cpe:/"
PARTS = frozenset({"a", "o", "h"})  # application, operating system, hardware
_OPEN = frozenset({"*", "-", ""})  # ANY, NA, and an empty component (ANY in a 2.2 URI)
_FORMATTED_PARTS = PARTS | {"*", "-"}
_URI_PARTS = PARTS | {""}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_FORMATTED_COMPONENTS = 11
_URI_COMPONENTS = 7  # part, vendor, product, version, update, edition, language


class Cpe(NamedTuple):
    """The attributes of a CPE name, unescaped (``prod\\:uct`` is ``prod:uct``) and otherwise as written.

    None stands for an attribute the name leaves open: ANY (``*``) or NA (``-``); nothing that reads CPEs here
    tells them apart. ``_`` stays ``_``: turning it into a space is for whoever shows the name.

    A named tuple rather than a frozen dataclass: a registry names up to a million software items, and a tuple
    is built four times faster.
    """

    part: str | None
    vendor: str | None
    product: str | None
    version: str | None = None
    update: str | None = None
    edition: str | None = None
    language: str | None = None
    sw_edition: str | None = None
    target_sw: str | None = None
    target_hw: str | None = None
    other: str | None = None

    @property
    def full_version(self) -> str | None:
        """The version with its update, as a vendor writes it: ``2019`` + ``cumulative_update_12``."""
        if self.version is None:
            return None
        return f"{self.version} {self.update}" if self.update else self.version


def parse_cpe(text: str) -> Cpe | None:
    """The CPE that ``text`` names, or None when it is neither a CPE 2.3 formatted string nor a CPE 2.2 URI.

    A formatted string has all eleven components (``\\``-escapes such as ``\\:`` allowed); a URI up to seven,
    percent-encoded, with a packed ``~`` edition read as 2.3's extended attributes. The prefix and the part may
    be in any case; the part must be ``a``, ``o`` or ``h`` (or open), and a vendor and a product must be
    written, if only as ``*`` or ``-``.
    """
    # The registry's million items go through here: the usual lower-case prefix is tested before any copy.
    if text.startswith(FORMATTED_PREFIX) or text[:8].lower() == FORMATTED_PREFIX:
        raw = _formatted_components(text[8:])
        if raw is None or len(raw) != _FORMATTED_COMPONENTS:
            return None
        if raw[0] not in _FORMATTED_PARTS:
            raw[0] = raw[0].lower()
            if raw[0] not in _FORMATTED_PARTS:
                return None
        if "\\" in text:
            values = [None if component in _OPEN else _ESCAPED.sub(r"\1", component) for component in raw]
        else:
            values = [None if component in _OPEN else component for component in raw]
    elif text[:5].lower() == URI_PREFIX:
        raw = text[5:].split(":")
        raw[0] = raw[0].lower()
        if len(raw) > _URI_COMPONENTS or raw[0] not in _URI_PARTS:
            return None
        raw += [""] * (_URI_COMPONENTS - len(raw))
        if raw[5].startswith("~"):
            # 2.2 packs 2.3's extended attributes into the edition: ~edition~sw_edition~target_sw~target_hw~other
            packed = raw[5].split("~")
            if len(packed) != 6:
                return None
            raw = [*raw[:5], packed[1], raw[6], *packed[2:]]
        else:
            raw += [""] * 4
        values = [None if component in _OPEN else unquote(component) for component in raw]
    else:
        return None
    if not raw[1] or not raw[2]:
        return None  # a CPE names its vendor and product, if only as * or -
    return Cpe._make(values)


def _formatted_components(body: str) -> list[str] | None:
    """The components of a formatted string, still escaped, split on the colons that are not escaped; None when
    the string ends inside an escape."""
    if "\\" not in body:
        return body.split(":")
    components: list[str] = []
    start = 0
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            index += 2
            continue
        if char == ":":
            components.append(body[start:index])
            start = index + 1
        index += 1
    if index > len(body):
        return None  # a trailing backslash escapes nothing
    components.append(body[start:])
    return components


__all__ = ["FORMATTED_PREFIX", "PARTS", "URI_PREFIX", "Cpe", "parse_cpe"]
