"""STIX 2 (format ``stix``): one observation per ``indicator`` object, its pattern read by the OASIS parser.

STIX 2.1 bundles, the STIX 2.0 bundles that MISP exports (Talos: ``spec_version`` on the bundle, no
``pattern_type``), and STIX objects served as JSON Lines (one object per line, no bundle: SEKOIA's community
IOCs) are read. In JSON Lines a line that is not one JSON object, or longer than :data:`MAX_LINE`, is skipped and
counted: one broken line never fails the feed, but a document with no readable line does.

Patterns are parsed with ``stix2-patterns``, the grammar chosen by the pattern's version, and the comparisons
``=`` and ``IN`` on addresses, networks, domains, URLs, email addresses and file hashes become indicators,
whatever the observation operators (``OR``, ``AND``, ``FOLLOWEDBY``) around them: any value a pattern names is
worth telling its owner about. A pattern the parser rejects, or in another language (YARA, Snort, Sigma), is
skipped and counted; it does not fail the document.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stix2patterns.v20.pattern import Pattern as Pattern20  # type: ignore[import-untyped]
from stix2patterns.v21.pattern import Pattern as Pattern21  # type: ignore[import-untyped]

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import ColumnRole, FeedSpec
from alertd.domain.tlp import Tlp
from alertd.domain.values import Indicator, Observation
from alertd.intake.extract import indicator_for
from alertd.intake.formats import fields
from alertd.intake.formats.jsondoc import utc_timestamp

MAX_PATTERN = 200_000  # characters; the parser needs about a second for this much, longer is not a real pattern
MAX_STORED_PATTERN = 1000
MAX_DESCRIPTION = 20_000
MAX_TITLE = 120
MAX_ATTR = 500
# Bytes of one JSON Lines line: room for a pattern at MAX_PATTERN and its description, and far beyond any
# real object (SEKOIA's longest, a YARA rule, is 19 KB); a longer line is skipped unread.
MAX_LINE = 500_000
_ESCAPE = re.compile(r"\\(['\\])")  # the only escapes a STIX string literal may hold
_HASHES = frozenset({"MD5", "SHA1", "SHA256"})  # the lengths indicator_for() accepts as hashes
# The TLP marking definitions every STIX producer refers to by id, whether or not the bundle carries them: TLP 1.0's
# (STIX 2.0 and 2.1, section 7.2.1.4) and TLP 2.0's (the OASIS CTI extension, FIRST TLP 2.0).
TLP_MARKINGS: dict[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,  # TLP 1.0 WHITE
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,  # TLP 2.0
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
}


@dataclass(frozen=True, slots=True)
class StixResult:
    """What one document held: the observations, and how many indicator objects were read and set aside."""

    observations: list[Observation]
    indicators: int  # indicator objects in the bundle (revoked ones and repeated versions excluded)
    rejected: int  # patterns the STIX pattern parser refused (or too long to try)
    other_languages: int  # pattern_type other than stix (snort, yara, sigma...)
    mapped: int  # observations with at least one network indicator or hash
    broken_lines: int = 0  # JSON Lines lines skipped: not one JSON object, or longer than MAX_LINE


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """One observation per indicator object whose STIX pattern parses, from a bundle or JSON Lines; see
    :func:`read`."""
    return read(feed, body).observations


def read(feed: FeedSpec, body: bytes) -> StixResult:
    """Like :func:`parse`, with the counts of indicator objects read and set aside (for the fetcher's logs).

    Raises :class:`ParseError` when the body is neither a STIX bundle nor JSON Lines with at least one readable
    STIX object.
    """
    objects, bundle_version, broken = _objects(feed, body)
    indicators = _latest_indicators(objects)
    malware = _malware_names(objects)
    reports = _report_names(objects)
    tlps = _tlp_markings(objects)
    inherited = _report_markings(objects, tlps)
    observations: list[Observation] = []
    rejected = other = mapped = 0
    for obj in indicators.values():
        pattern_type = obj.get("pattern_type", "stix")
        if not isinstance(pattern_type, str) or pattern_type.strip().lower() != "stix":
            other += 1
            continue
        pattern = obj.get("pattern")
        version = (
            fields.text(obj.get("pattern_version"), 16) or fields.text(obj.get("spec_version"), 16) or bundle_version
        )
        values = _comparisons(pattern, version or ("2.1" if "pattern_type" in obj else "2.0"))
        if values is None or not isinstance(pattern, str):
            rejected += 1
            continue
        own = [m for m in (marking(obj, tlps), inherited.get(fields.text(obj.get("id"), 200))) if m is not None]
        observation = _observation(feed, obj, pattern, values, malware, reports, Tlp.strictest(own) if own else None)
        mapped += bool(observation.indicators)
        observations.append(observation)
    return StixResult(observations, len(indicators), rejected, other, mapped, broken)


def _objects(feed: FeedSpec, body: bytes) -> tuple[list[dict[str, Any]], str, int]:
    """The objects of a bundle, or of JSON Lines; with the bundle's ``spec_version`` and the lines skipped."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # Not one JSON value: JSON Lines (a line of bad UTF-8 among them is one broken line), or a broken
        # document, of which no line reads either.
        objects, broken = _json_lines(body)
        if objects:
            return objects, "", broken
        if isinstance(exc, UnicodeDecodeError):
            reason = f"not UTF-8 ({exc})"
        elif isinstance(exc, json.JSONDecodeError):
            reason = f"not valid JSON ({exc})"
        else:
            reason = "JSON nested too deeply to be read"
        raise ParseError(
            f"feed {feed.id!r}: the document is neither a STIX bundle ({reason}) nor JSON Lines of STIX objects "
            f"({broken} unreadable lines); check that the url serves STIX 2.0 or 2.1 JSON"
        ) from None
    if _is_object(data) and data.get("type") != "bundle" and _has_own_id(data):
        return [data], "", 0  # JSON Lines of a single object
    if not isinstance(data, dict) or data.get("type") != "bundle":
        raise ParseError(
            f'feed {feed.id!r}: the document is not a STIX bundle (a JSON object with "type": "bundle") nor JSON '
            "Lines of STIX objects; check that the url serves STIX 2.0 or 2.1 JSON"
        )
    objects = data.get("objects", [])
    if not isinstance(objects, list):
        raise ParseError(f"feed {feed.id!r}: the STIX bundle's 'objects' is not a list")
    return [obj for obj in objects if isinstance(obj, dict)], fields.text(data.get("spec_version"), 16), 0


def _json_lines(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """The STIX objects of a JSON Lines document, a bundle on a line giving its objects; and how many non-empty
    lines were skipped. Split on newline bytes only: a JSON string may hold U+2028, which ``splitlines`` cuts."""
    objects: list[dict[str, Any]] = []
    broken = 0
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            broken += 1
            continue
        try:
            data = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON (both ValueError), or nested too deeply
            broken += 1
            continue
        if not _is_object(data):
            broken += 1
        elif data.get("type") == "bundle":
            objects.extend(fields.mappings(data.get("objects")))
        else:
            objects.append(data)
    return objects, broken


def _is_object(data: Any) -> bool:
    """Whether ``data`` looks like a STIX object: a JSON object with a string ``type``."""
    return isinstance(data, dict) and isinstance(data.get("type"), str)


def _has_own_id(data: dict[str, Any]) -> bool:
    """Whether an object's ``id`` is of its own type (``indicator--…``), as a STIX object's is."""
    stix_id = data.get("id")
    return isinstance(stix_id, str) and stix_id.startswith(f"{data['type']}--")


def _latest_indicators(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The indicator objects by id, each in its latest version (a bundle may carry several); revoked ones
    dropped."""
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if obj.get("type") != "indicator":
            continue
        key = fields.text(obj.get("id"), 200)
        if not key:
            key = "indicator--" + hashlib.sha256(str(obj.get("pattern")).encode()).hexdigest()[:32]
        known = latest.get(key)
        if known is None or _modified(obj) >= _modified(known):
            latest[key] = obj
    return {key: obj for key, obj in latest.items() if obj.get("revoked") is not True}


def _modified(obj: dict[str, Any]) -> datetime:
    return utc_timestamp(obj.get("modified")) or utc_timestamp(obj.get("created")) or datetime.min.replace(tzinfo=UTC)


def _malware_names(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Indicator id -> names of the malware it ``indicates`` (relationship objects)."""
    names = {obj.get("id"): fields.text(obj.get("name"), 200) for obj in objects if obj.get("type") == "malware"}
    found: dict[str, dict[str, None]] = {}  # ordered sets, as in _report_names
    for obj in objects:
        if obj.get("type") != "relationship" or obj.get("relationship_type") != "indicates":
            continue
        source, target = obj.get("source_ref"), obj.get("target_ref")
        name = names.get(target) if isinstance(target, str) else None
        if isinstance(source, str) and name:
            found.setdefault(source, {})[name] = None
    return {source: list(names) for source, names in found.items()}


def _tlp_markings(objects: list[dict[str, Any]]) -> dict[str, Tlp | None]:
    """Marking definition id -> TLP marking: the well-known ids, and the bundle's own TLP definitions (TLP 1.0's
    ``definition_type: tlp``, or a definition named ``TLP:...`` as TLP 2.0's are); the bundle's other definitions
    (a statement, a copyright) map to None."""
    found: dict[str, Tlp | None] = dict(TLP_MARKINGS)
    for obj in objects:
        key = obj.get("id")
        if obj.get("type") != "marking-definition" or not isinstance(key, str) or key in TLP_MARKINGS:
            continue
        definition = obj.get("definition")
        name = fields.text(obj.get("name"), 100)
        if obj.get("definition_type") == "tlp" and isinstance(definition, dict):
            found[key] = Tlp.parse(fields.text(definition.get("tlp"), 100))
        elif name.lower().startswith("tlp:"):
            found[key] = Tlp.parse(name)
        else:
            found[key] = None
    return found


def marking(obj: dict[str, Any], tlps: dict[str, Tlp | None]) -> Tlp | None:
    """The strictest TLP marking among an object's ``object_marking_refs``; None when it refers to none (other
    markings, a copyright statement, say nothing of TLP). A reference to a marking defined nowhere in the document
    counts as ``RED`` (fail closed): a TAXII page read incrementally lacks the definitions of earlier pages, and a
    custom TLP:RED definition must not become the feed's own marking."""
    refs = obj.get("object_marking_refs")
    if not isinstance(refs, list):
        return None
    found = [tlps.get(ref, Tlp.RED) for ref in refs if isinstance(ref, str) and ref.startswith("marking-definition--")]
    known = [tlp for tlp in found if tlp is not None]
    return Tlp.strictest(known) if known else None


def _report_markings(objects: list[dict[str, Any]], tlps: dict[str, Tlp | None]) -> dict[str, Tlp]:
    """Object id -> the strictest TLP marking of the reports that list it. STIX scopes a marking to its object, but
    MISP's exports (Talos) mark only the report that stands for the whole event: what it lists is shared under it."""
    found: dict[str, Tlp] = {}
    for obj in objects:
        tlp = marking(obj, tlps) if obj.get("type") == "report" else None
        refs = obj.get("object_refs")
        if tlp is None or not isinstance(refs, list):
            continue
        for ref in refs:
            if isinstance(ref, str):
                found[ref] = max(found.get(ref, tlp), tlp)
    return found


def _report_names(objects: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Object id -> names of the reports that list it in ``object_refs``."""
    found: dict[str, dict[str, None]] = {}  # ordered sets: thousands of reports naming one object stay linear
    for obj in objects:
        name = fields.text(obj.get("name"), 200)
        refs = obj.get("object_refs")
        if obj.get("type") != "report" or not name or not isinstance(refs, list):
            continue
        for ref in refs:
            if isinstance(ref, str):
                found.setdefault(ref, {})[name] = None
    return {ref: list(names) for ref, names in found.items()}


def _comparisons(pattern: Any, version: str) -> list[tuple[str, list[str], str]] | None:
    """The ``=`` and ``IN`` comparisons of a pattern on string values, as (object type, property path, value);
    None when the pattern does not parse under its version's grammar, nor the other one."""
    if not isinstance(pattern, str) or not pattern.strip() or len(pattern) > MAX_PATTERN:
        return None
    grammars = (Pattern20, Pattern21) if version.startswith("2.0") else (Pattern21, Pattern20)
    for grammar in grammars:
        collector = _Comparisons()
        try:
            grammar(pattern).visit(collector)
        # ParseException for a pattern the grammar refuses, RecursionError for deep parentheses; whatever else
        # the third-party parser raises on hostile input must not fail the bundle either.
        except Exception:  # noqa: S112
            continue
        return collector.found
    return None


class _Comparisons:
    """Collects comparisons from a parse tree of either grammar version.

    Given to ``Pattern.visit``, it walks the tree itself, iteratively: the library's recursive walker exceeds
    Python's recursion limit on a pattern of about a thousand ``OR``-ed comparisons (a blocklist published as one
    pattern). The ``exit*`` callbacks, named by the generated parser and called when present, follow
    ``stix2patterns``' own inspector (``InspectionListener``).
    """

    def __init__(self) -> None:
        self.found: list[tuple[str, list[str], str]] = []
        self._type = ""
        self._path: list[str] = []

    def visit(self, tree: Any) -> None:
        stack: list[tuple[Any, bool]] = [(tree, False)]
        while stack:
            node, done = stack.pop()
            exit_rule = getattr(node, "exitRule", None)
            if exit_rule is None:  # a terminal: its text is read by its parent's callback
                continue
            if done:
                exit_rule(self)
                continue
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.children or ()))

    def exitObjectType(self, ctx: Any) -> None:
        self._type = str(ctx.getText())

    def exitFirstPathComponent(self, ctx: Any) -> None:
        literal = ctx.StringLiteral()
        self._path = [_unquote(literal.getText()) if literal is not None else str(ctx.getText())]

    def exitKeyPathStep(self, ctx: Any) -> None:
        name = ctx.IdentifierWithoutHyphen()
        self._path.append(str(name.getText()) if name is not None else _unquote(ctx.StringLiteral().getText()))

    def exitIndexPathStep(self, ctx: Any) -> None:
        self._path.append("*" if ctx.ASTERISK() is not None else str(ctx.getText()).strip("[]"))

    def exitPropTestEqual(self, ctx: Any) -> None:
        if ctx.EQ() is None or ctx.NOT() is not None:
            return
        self._add(ctx.primitiveLiteral())

    def exitPropTestSet(self, ctx: Any) -> None:
        if ctx.NOT() is not None:
            return
        for literal in ctx.setLiteral().primitiveLiteral():
            self._add(literal)

    def _add(self, primitive: Any) -> None:
        orderable = primitive.orderableLiteral() if primitive is not None else None
        token = orderable.StringLiteral() if orderable is not None else None
        if token is not None:
            self.found.append((self._type, list(self._path), _unquote(token.getText())))


def _unquote(literal: str) -> str:
    return _ESCAPE.sub(r"\1", literal[1:-1])


def _indicator(object_type: str, path: list[str], value: str, limit: int) -> Indicator | None:
    """The indicator a comparison names, or None for a property that holds none (x509, file:name...); a value
    longer than ``limit`` (the feed's ``max_field_bytes``) is none."""
    if len(path) == 1 and path[0] == "value":
        if object_type in ("ipv4-addr", "ipv6-addr"):
            return indicator_for(value, ColumnRole.IP, limit)
        if object_type == "domain-name":
            return indicator_for(value, ColumnRole.DOMAIN, limit)
        if object_type == "url":
            return indicator_for(value, ColumnRole.URL, limit)
        if object_type == "email-addr":
            return indicator_for(value, ColumnRole.EMAIL, limit)
    elif len(path) == 2 and path[1] == "value":
        if object_type == "network-traffic" and path[0] in ("dst_ref", "src_ref"):
            return indicator_for(value, ColumnRole.IP, limit) or indicator_for(value, ColumnRole.DOMAIN, limit)
        if object_type == "email-message" and path[0] in ("from_ref", "sender_ref"):
            return indicator_for(value, ColumnRole.EMAIL, limit)
    elif object_type == "file" and len(path) == 2 and path[0] == "hashes" and _algorithm(path[1]) in _HASHES:
        return indicator_for(value, ColumnRole.HASH, limit)
    return None


def _algorithm(name: str) -> str:
    """One spelling per hash algorithm: 'SHA-256' (STIX 2.1), SHA256 (MISP's 2.0 exports), md5 -> SHA256, MD5."""
    return name.upper().replace("-", "").replace("_", "")


def _observation(
    feed: FeedSpec,
    obj: dict[str, Any],
    pattern: str,
    comparisons: list[tuple[str, list[str], str]],
    malware: dict[str, list[str]],
    reports: dict[str, list[str]],
    tlp: Tlp | None,
) -> Observation:
    stix_id = fields.text(obj.get("id"), 200) or "indicator--" + hashlib.sha256(pattern.encode()).hexdigest()[:32]
    indicators: list[Indicator] = []
    for object_type, path, value in comparisons:
        indicator = _indicator(object_type, path, value, feed.max_field_bytes)
        if indicator is not None and indicator not in indicators:
            indicators.append(indicator)
    description = fields.text(obj.get("description"), min(MAX_DESCRIPTION, feed.max_field_bytes))
    # MISP's STIX exports (Talos) name no indicator and describe few: their report's name tells more than an id.
    title = (
        fields.one_line(fields.text(obj.get("name"), 1000))
        or fields.one_line(description)[:MAX_TITLE]
        or ", ".join(reports.get(stix_id, ()))
        or stix_id
    )
    # Dicts as ordered sets: a list's "not in" made 50,000 labels take minutes (bench/parser_slopes.py).
    labels = dict.fromkeys(label for key in ("indicator_types", "labels") for label in _strings(obj.get(key)))
    facts: dict[Fact | str, str] = {"labels": ", ".join(labels)[:MAX_ATTR], "pattern": pattern[:MAX_STORED_PATTERN]}
    confidence = obj.get("confidence")
    if isinstance(confidence, int) and not isinstance(confidence, bool):
        facts["confidence"] = str(confidence)
    if malware.get(stix_id):
        facts[Fact.MALWARE] = ", ".join(malware[stix_id])[:MAX_ATTR]
    if reports.get(stix_id):
        facts["report"] = ", ".join(reports[stix_id])[:MAX_ATTR]
    return Observation(
        feed=feed.id,
        entry=stix_id,
        kind=feed.kind,
        title=title[: MAX_TITLE * 2],
        indicators=tuple(indicators),
        text=description,
        published=utc_timestamp(obj.get("valid_from")) or utc_timestamp(obj.get("created")),
        facts=Facts.of(facts),
        tlp=tlp,
    )


def _strings(value: Any) -> Iterator[str]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        text = fields.text(item, 200)
        if text:
            yield text
