"""The fuzz targets: one per feed parser (and index expander) and one for extraction, with their seeds.

A target takes the bytes the fuzzer made and either returns or raises. It raises only for what the daemon must never
see: an exception other than the parser's documented :class:`~alertd.domain.errors.ParseError` (the engine would
log it as a parser crash, ``service/poll.py``), output beyond the feed's caps, or an input that took longer than
:func:`budget` allows for its size (a superlinear path: the interpreter lock held, the watchdog starved).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from alertd.domain.errors import ParseError
from alertd.domain.feeds import INDICATOR_ROLES, ColumnRole, FeedFormat, FeedSpec
from alertd.domain.values import Observation
from alertd.intake.extract import MAX_ENTRY_TEXT, extract_indicators, indicator_for, refang
from alertd.intake.formats import FORMATS, csaf_index, misp, rss

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
MAX_SEED = 16 * 1024  # bytes of one seed and of any input: small inputs make many runs; bench/ measures growth
# The time an input may take: a fixed allowance (a loaded machine, a first call's imports) plus a per-byte one
# a hundred times what the parsers need on real feeds. Linear code stays far below; a quadratic path over a few
# tens of kilobytes does not.
BUDGET_BASE = 2.0  # seconds
BUDGET_PER_BYTE = 50e-6  # seconds


class SlowInput(Exception):
    """An input took longer than its size allows."""


class Unbounded(Exception):
    """A parser returned more text than the feed's caps allow."""


def budget(size: int) -> float:
    """Seconds an input of ``size`` bytes may take."""
    return BUDGET_BASE + BUDGET_PER_BYTE * size


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzz target: its name, what it runs on one input, and the sample files its corpus starts from."""

    name: str
    run: Callable[[bytes], None]
    seeds: tuple[str, ...]  # globs under tests/data


# Small caps are fuzzed as well as the defaults: a cut in the middle of a token is where off-by-ones hide.
_SMALL = (1024, 4096)


def _spec(fmt: FeedFormat, small: bool) -> FeedSpec:
    columns: dict[ColumnRole | Any, str] = {}
    if fmt is FeedFormat.CSV:
        columns = {ColumnRole.IP: "0", ColumnRole.URL: "1", ColumnRole.DOMAIN: "2", ColumnRole.FIRST_SEEN: "3"}
    spec = FeedSpec("fuzzed", fmt, FORMATS[fmt].kind, MappingProxyType(columns))
    return replace(spec, max_field_bytes=_SMALL[0], max_entry_bytes=_SMALL[1]) if small else spec


def check_bounded(observations: list[Observation], spec: FeedSpec) -> None:
    """Raise :class:`Unbounded` when an observation's title or an indicator exceeds the field cap, or its text or a
    fact the entry cap."""
    for o in observations:
        if len(o.title) > spec.max_field_bytes or any(len(i.value) > spec.max_field_bytes for i in o.indicators):
            raise Unbounded(f"{spec.format}: title or indicator over max_field_bytes={spec.max_field_bytes}")
        if len(o.text) > spec.max_entry_bytes or any(len(v) > spec.max_entry_bytes for v in o.facts.to_json().values()):
            raise Unbounded(f"{spec.format}: text or fact over max_entry_bytes={spec.max_entry_bytes}")


def _timed(size: int, what: str, call: Callable[[], object]) -> None:
    start = time.perf_counter()
    call()
    took = time.perf_counter() - start
    if took > budget(size):
        raise SlowInput(f"{what}: {size} bytes took {took:.2f} s (budget {budget(size):.2f} s)")


def _parser_target(fmt: FeedFormat) -> Callable[[bytes], None]:
    parse = FORMATS[fmt].parse

    def run(data: bytes) -> None:
        # The first byte picks the caps, so both settings are explored from the same corpus.
        spec = _spec(fmt, small=bool(data[:1]) and data[0] & 1 == 1)

        def once() -> None:
            try:
                observations = parse(spec, data)
            except ParseError:
                return
            check_bounded(observations, spec)

        _timed(len(data), f"parse {fmt}", once)

    return run


def _expander_target(
    expand: Callable[[FeedSpec, bytes, str], list[str] | None], fmt: FeedFormat
) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        def once() -> None:
            urls = expand(_spec(fmt, False), data, "https://feeds.example/dir/index.txt")
            if urls is not None and not all(u.startswith(("https://", "http://")) for u in urls):
                raise AssertionError(f"an expander returned a URL off http(s): {urls[:3]}")

        _timed(len(data), f"expand {fmt}", once)

    return run


def _extraction(data: bytes) -> None:
    """Refanging, HTML stripping, free-text extraction and every cell role on the same text."""
    text = data.decode("utf-8", errors="replace")
    limit = 1 + (data[0] if data else 0) * 64  # 1 to 16,321 characters: cuts land everywhere

    def once() -> None:
        if len(refang(text)) > len(text) or len(rss.strip_html(text)) > len(text):
            raise Unbounded("refang or strip_html made the text longer")
        found = extract_indicators(text, limit)
        if any(len(i.value) > max(limit, 16) for i in found):
            raise Unbounded(f"an indicator longer than the {limit} characters read")
        extract_indicators(text, MAX_ENTRY_TEXT)
        for role in INDICATOR_ROLES:
            cell = indicator_for(text, role, limit)
            if cell is not None and len(text.strip()) > limit:
                raise Unbounded(f"a {role} cell over the limit read as {cell}")

    _timed(len(data), "extraction", once)


_SEEDS: dict[FeedFormat, tuple[str, ...]] = {
    FeedFormat.RSS: ("rss/certfr_alertes_avis.xml", "rss/cisa_advisories_atom.xml", "rss/ransomware-live_rss_*.xml"),
    FeedFormat.CISA_KEV: ("kev/*.json",),
    FeedFormat.CSV: ("abusech/*.csv", "other/*.txt"),
    FeedFormat.NVD_JSON: ("nvd/*.json",),
    FeedFormat.CSAF: ("csaf/*.json",),
    FeedFormat.MISP: ("misp/*.json",),
    FeedFormat.STIX: ("stix/*.json", "stix/*.jsonl"),
    FeedFormat.LEAK_VICTIMS: ("leaks/*.json",),
    FeedFormat.EPSS_CSV: ("epss/*.csv",),
    FeedFormat.PRESS_REPORTS: ("press/*.json",),
    FeedFormat.TAXII: ("stix/*.json",),  # what the fetch packs a collection's pages into: one STIX bundle
}

TARGETS: dict[str, Target] = {
    **{f"parse-{fmt}": Target(f"parse-{fmt}", _parser_target(fmt), _SEEDS[fmt]) for fmt in FORMATS},
    "expand-csaf": Target("expand-csaf", _expander_target(csaf_index.expand, FeedFormat.CSAF), ("csaf/*.json",)),
    "expand-misp": Target("expand-misp", _expander_target(misp.expand, FeedFormat.MISP), ("misp/*.json",)),
    "extract": Target("extract", _extraction, ("rss/certfr_alertes_avis.xml", "other/sekoia_*.csv")),
}


def seed_inputs(target: Target) -> list[bytes]:
    """The target's seeds, each at most :data:`MAX_SEED` bytes: a JSON document with its lists cut to their first
    three items (still valid, still of its shape), other text to its first lines."""
    found: list[bytes] = []
    for pattern in target.seeds:
        for path in sorted(DATA.glob(pattern)):
            if path.is_file():
                found.append(_small(path.read_bytes()))
    return found


def _small(body: bytes) -> bytes:
    if len(body) <= MAX_SEED:
        return body
    try:
        return json.dumps(_trim(json.loads(body)), ensure_ascii=False).encode()[:MAX_SEED]
    except ValueError:
        pass
    head = body[:MAX_SEED]
    return head[: head.rfind(b"\n") + 1] or head


def _trim(value: Any) -> Any:
    if isinstance(value, list):
        return [_trim(v) for v in value[:3]]
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    return value
