"""Benchmark: feed text handling grows linearly with its input (issue #13: no feed can freeze the daemon).

For each hostile shape (a run of spaces around a defanged dot, 320,000 ``&lt;`` as a title decodes to, unclosed
comments and scripts, a URL followed by closing brackets...), times refanging, HTML stripping and indicator
extraction on inputs of 10k, 20k, 40k, 80k and 160k characters, and fits the slope of log(time) against
log(size): about 1 is linear, 2 quadratic (the expressions used before took minutes at these sizes). Times are
CPU seconds of this process, best of ``--rounds``; prints JSON, asserts nothing.

    .venv/bin/python bench/linear_text.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alertd.intake.extract import extract_indicators, refang  # noqa: E402
from alertd.intake.formats.rss import strip_html  # noqa: E402

SIZES = (10_000, 20_000, 40_000, 80_000, 160_000)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# shape name → (function under test, input of about n characters)
SHAPES: dict[str, tuple[Callable[[str], object], Callable[[int], str]]] = {
    "refang: spaces around [.]": (refang, lambda n: "evil" + " " * (n // 2) + "[.]" + " " * (n // 2) + "example"),
    "refang: spaces, no token": (refang, lambda n: "a" + " " * n + "b"),
    "refang: 'a [.] ' repeated": (refang, lambda n: _repeat("a [.] ", n)),
    "strip_html: '<' repeated": (strip_html, lambda n: "<" * n),
    "strip_html: '&lt;' repeated": (strip_html, lambda n: _repeat("&lt;", n)),
    "strip_html: '<!--' repeated": (strip_html, lambda n: _repeat("<!--", n)),
    "strip_html: '<script>' repeated": (strip_html, lambda n: _repeat("<script>", n)),
    "strip_html: long decimal reference": (strip_html, lambda n: "&#" + "9" * n + ";"),
    "extract: spaces": (extract_indicators, lambda n: " " * n),
    "extract: URL then ')'": (extract_indicators, lambda n: "http://evil.example/" + ")" * n),
    "extract: URL then '.'": (extract_indicators, lambda n: "http://evil.example/" + "." * n),
    "extract: 'a.' repeated": (extract_indicators, lambda n: _repeat("a.", n) + "-"),
}


def _best(function: Callable[[str], object], text: str, rounds: int) -> float:
    best = math.inf
    for _ in range(rounds):
        started = time.process_time()
        function(text)
        best = min(best, time.process_time() - started)
    return best


def _slope(sizes: tuple[int, ...], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-7)) for t in seconds]  # a time below the clock's resolution reads as 0.1 µs
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    shapes: dict[str, object] = {}
    slopes: list[float] = []
    for name, (function, make) in SHAPES.items():
        seconds = [_best(function, make(size), args.rounds) for size in SIZES]
        slopes.append(round(_slope(SIZES, seconds), 2))
        shapes[name] = {
            "ms_per_call": {str(size): round(t * 1000, 3) for size, t in zip(SIZES, seconds, strict=True)},
            "slope": slopes[-1],
        }
    report = {
        "benchmark": "linear_text",
        "python": platform.python_version(),
        "sizes": list(SIZES),
        "shapes": shapes,
        "max_slope": max(slopes),
        "target": "slope about 1 (linear); 2 would be quadratic",
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
