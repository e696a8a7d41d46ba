"""Benchmark: every feed parser's time grows linearly with the size of a hostile document (issue #13).

For each parser, adversarial shapes (long fields, many ``&lt;``, many entries sharing one id, deep nesting within
the JSON limit...) are built at 1×, 4× and 16× a base size and parsed with the feed's default caps; the slope of
log(time) against log(size) is printed: about 1 is linear, 2 quadratic; below 1 means the caps stop the growth
(a field cut at ``max_field_bytes``). Times are CPU seconds of this process, best of ``--rounds``; prints a table
(or JSON with ``--json``), asserts nothing.

    .venv/bin/python bench/parser_slopes.py [--rounds 3] [--base 20000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alertd.domain.errors import ParseError  # noqa: E402
from alertd.domain.feeds import ColumnRole, FactColumn, FeedFormat, FeedSpec  # noqa: E402
from alertd.intake.formats import FORMATS  # noqa: E402

FACTORS = (1, 4, 16)


def _j(value: object) -> bytes:
    return json.dumps(value).encode()


def _rss(items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def _atom_contents(n: int) -> bytes:
    contents = "".join(f'<content type="text">c{i} evil{i}.example</content>' for i in range(n // 40))
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        f"<entry><id>e</id><title>x</title>{contents}</entry></feed>"
    ).encode()


def _stix(objects: list[Any]) -> bytes:
    return _j({"type": "bundle", "id": "bundle--1", "objects": objects})


_IND = {"type": "indicator", "id": "indicator--1", "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}  # fmt: skip


def _nested_nodes(depth: int) -> dict[str, object]:
    cpe = "cpe:2.3:a:v:p:1:*:*:*:*:*:*:*"
    node: dict[str, object] = {"operator": "OR", "cpeMatch": [{"vulnerable": True, "criteria": cpe}]}
    for _ in range(depth):
        node = {"operator": "AND", "nodes": [node]}
    return node


def _nvd(configurations: list[object], matches: int = 0) -> bytes:
    if matches:
        cpes = [{"vulnerable": True, "criteria": f"cpe:2.3:a:v{i}:p:1:*:*:*:*:*:*:*"} for i in range(matches)]
        configurations = [{"nodes": [{"operator": "OR", "cpeMatch": cpes}]}]
    cve = {"id": "CVE-2024-0001", "descriptions": [{"lang": "en", "value": "d"}], "configurations": configurations}
    return _j({"vulnerabilities": [{"cve": cve}]})


def _branches(depth: int, i: int) -> dict[str, object]:
    product = {"product_id": f"P{i}", "name": f"p{i} 1.0"}
    branch: dict[str, object] = {"category": "product_version", "name": "1.0", "product": product}
    for _ in range(depth):
        branch = {"category": "product_family", "name": "f", "branches": [branch]}
    return branch


def _csaf(branches: list[object], notes: int = 0) -> bytes:
    vulnerability: dict[str, Any] = {"cve": "CVE-2024-0001", "product_status": {"known_affected": ["P0"]}}
    if notes:
        vulnerability["notes"] = [{"category": "description", "text": "&lt; " * 25} for _ in range(notes)]
    document = {"tracking": {"id": "X"}, "title": "t", "category": "csaf_security_advisory"}
    return _j({"document": document, "product_tree": {"branches": branches}, "vulnerabilities": [vulnerability]})


def _misp(attributes: int, tags: int = 0) -> bytes:
    values = [f"198.51.{i // 256 % 256}.{i % 256}" for i in range(max(attributes, 1))]
    event = {
        "uuid": "u",
        "info": "i",
        "Tag": [{"name": f"t{i}"} for i in range(tags)],
        "Attribute": [{"type": "ip-dst", "value": v, "to_ids": True} for v in values],
    }
    return _j({"Event": event})


def _stix_reports(n: int) -> bytes:
    reports = [
        {"type": "report", "id": f"report--{i}", "name": f"r{i}", "object_refs": ["indicator--1"]} for i in range(n)
    ]
    return _stix([_IND, *reports])


def _stix_malware(n: int) -> bytes:
    objects: list[Any] = [_IND]
    for i in range(n):
        objects.append({"type": "malware", "id": f"malware--{i}", "name": f"m{i}"})
        relation = {"type": "relationship", "relationship_type": "indicates", "source_ref": "indicator--1"}
        objects.append({**relation, "target_ref": f"malware--{i}"})
    return _stix(objects)


def _stix_pattern(n: int) -> bytes:
    pattern = " OR ".join(f"[ipv4-addr:value = '198.51.{i // 256 % 256}.{i % 256}']" for i in range(n))
    return _stix([{**_IND, "pattern": pattern}])


def _rss_items(n: int, item: Callable[[int], str]) -> bytes:
    return _rss("".join(item(i) for i in range(n)))


# parser format → shape name → body of about n bytes
SHAPES: dict[FeedFormat, dict[str, Callable[[int], bytes]]] = {
    FeedFormat.RSS: {
        "items, titles of '&lt;'": lambda n: _rss_items(
            n // 1700, lambda i: f"<item><guid>{i}</guid><title>{'&amp;lt;' * 200}</title></item>"
        ),
        "one title of '&lt;' (cut at the field cap)": lambda n: _rss(
            f"<item><title>{'&amp;lt;' * (n // 8)}</title></item>"
        ),
        "one entry of many contents": _atom_contents,
        "spaces around [.] in descriptions": lambda n: _rss_items(
            n // 1050, lambda i: f"<item><guid>{i}</guid><description>a{' ' * 500}[.]{' ' * 500}b</description></item>"
        ),
    },
    FeedFormat.CSV: {
        "rows of URLs then ')'": lambda n: "".join(
            f"http://e{i}.example/{')' * 80}\n" for i in range(n // 100)
        ).encode(),
        "one cell of spaces": lambda n: ("198.51.100.7" + " " * n + "\n198.51.100.8\n").encode(),
        "rows of quotes": lambda n: ('"' * 99 + "\n").encode() * (n // 100) + b"198.51.100.7\n",
    },
    FeedFormat.CISA_KEV: {
        "entries, long descriptions": lambda n: _j(
            {
                "vulnerabilities": [
                    {"cveID": f"CVE-2024-{i:05d}", "shortDescription": "&lt; " * 250} for i in range(n // 1300)
                ]
            }
        ),
        "one entry, long fields": lambda n: _j(
            {"vulnerabilities": [{"cveID": "CVE-2024-0001", "vulnerabilityName": "x" * n, "notes": "y" * n}]}
        ),
    },
    FeedFormat.NVD_JSON: {
        "configurations each nested 40 deep": lambda n: _nvd(
            [{"nodes": [_nested_nodes(40)]} for _ in range(n // 1900)]
        ),
        "many CPE matches": lambda n: _nvd([], matches=n // 80),
    },
    FeedFormat.CSAF: {
        "branches each nested 40 deep": lambda n: _csaf([_branches(40, i) for i in range(n // 2500)]),
        "many notes": lambda n: _csaf([_branches(1, 0)], notes=n // 150),
    },
    FeedFormat.MISP: {
        "many attributes": lambda n: _misp(n // 70),
        "many tags": lambda n: _misp(1, tags=n // 20),
    },
    FeedFormat.STIX: {
        "reports naming one indicator": lambda n: _stix_reports(n // 90),
        "malware relationships to one indicator": lambda n: _stix_malware(n // 200),
        "one indicator, many labels": lambda n: _stix([{**_IND, "labels": [f"l{i}" for i in range(n // 8)]}]),
        "OR-ed comparisons (refused past MAX_PATTERN)": lambda n: _stix_pattern(n // 45),
    },
    FeedFormat.LEAK_VICTIMS: {
        "posts, titles of entities": lambda n: _j(
            [{"post_title": "&amp;" * 300, "group_name": f"g{i}"} for i in range(n // 1540)]
        ),
    },
    FeedFormat.PRESS_REPORTS: {
        "reports, long summaries": lambda n: _j(
            [{"victim": f"v{i}", "summary": "&lt; " * 200, "url": "https://x.example"} for i in range(n // 1100)]
        ),
    },
    FeedFormat.EPSS_CSV: {
        "rows": lambda n: (
            b"cve,epss,percentile\n" + "".join(f"CVE-2024-{i:05d},0.5,0.5\n" for i in range(n // 26)).encode()
        ),
    },
}


def _spec(fmt: FeedFormat) -> FeedSpec:
    columns: dict[ColumnRole | FactColumn, str] = {ColumnRole.URL: "0"} if fmt is FeedFormat.CSV else {}
    return FeedSpec("bench", fmt, FORMATS[fmt].kind, MappingProxyType(columns))


def _best(fmt: FeedFormat, body: bytes, rounds: int) -> float:
    parse, spec = FORMATS[fmt].parse, _spec(fmt)
    best = math.inf
    for _ in range(rounds):
        started = time.process_time()
        with contextlib.suppress(ParseError):  # a refused document is timed too: refusing must be linear as well
            parse(spec, body)
        best = min(best, time.process_time() - started)
    return best


def _slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-6)) for t in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    """Time every shape at each size and print the slopes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=int, default=20_000, help="bytes of the 1× input (default 20000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for fmt, shapes in SHAPES.items():
        for name, make in shapes.items():
            bodies = [make(args.base * factor) for factor in FACTORS]
            seconds = [_best(fmt, body, args.rounds) for body in bodies]
            sizes = [len(body) for body in bodies]
            ms = [round(t * 1000, 1) for t in seconds]
            rows.append({"parser": str(fmt), "shape": name, "bytes": sizes, "ms": ms, "slope": _slope(sizes, seconds)})
            if not args.json:
                r = rows[-1]
                sized = " ".join(f"{b:>8}" for b in sizes)
                timed = " ".join(f"{m:>7}" for m in ms)
                print(f"{fmt!s:<14} {name:<44} {sized} B {timed} ms  slope {r['slope']:.2f}", flush=True)
    worst = max(float(str(r["slope"])) for r in rows)
    if args.json:
        report = {"benchmark": "parser_slopes", "python": platform.python_version(), "rows": rows, "max_slope": worst}
        print(json.dumps(report, indent=2))
    else:
        print(f"max slope {worst:.2f} (about 1: linear; 2: quadratic)")


if __name__ == "__main__":
    main()
