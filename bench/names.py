"""Benchmark: establishment names in advisory and leak-site text (contract §7: >= 20 MB/s of text).

Builds the names and aliases of the seeded 100,000-establishment registry of :mod:`workload` (about 120,000,
the unsafe ones left out as the match index does), then scans 30 MB of generated advisories and leak-site posts
(French and English prose, place names, and now and then a name written in capitals, without accents or
hyphens). Prints MB/s for names alone and for the match index's full scan (names and product mentions), and
the baseline in the same run: for each text, a loop over every name looking for it in the normalised text,
timed on a sample and extrapolated. Throughput is in CPU seconds of this process; prints JSON, asserts nothing.

    .venv/bin/python bench/names.py [--megabytes 30] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workload import build_registry, build_texts  # noqa: E402

from alertd.match.index import MatchIndex  # noqa: E402
from alertd.match.names import PhraseIndex, name_keys  # noqa: E402
from alertd.match.normalise import tokens  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--megabytes", type=float, default=30.0)
    parser.add_argument("--baseline-texts", type=int, default=10)
    args = parser.parse_args()

    registry, figures = build_registry(seed=args.seed, software=10_000)
    texts = list(build_texts(registry, seed=args.seed + 6, megabytes=args.megabytes))
    size = sum(len(t.encode()) for t in texts)

    started = time.process_time()
    safe, unsafe = name_keys(registry)
    names: PhraseIndex[tuple[str, str]] = PhraseIndex((key, (est_id, name)) for est_id, name, key in safe)
    build_seconds = time.process_time() - started

    gc.disable()
    best = float("inf")
    mentions = 0
    for _ in range(3):
        started = time.process_time()
        found = [names.scan(text) for text in texts]
        best = min(best, time.process_time() - started)
        mentions = sum(len(f) for f in found)
    texts_with_mentions = sum(1 for f in found if f)

    index = MatchIndex(registry, benign=None)
    started = time.process_time()
    for text in texts:
        index.scan(text)
    full_seconds = time.process_time() - started
    gc.enable()

    # The simple way: every name, looked for in each text's normalised words.
    sample = texts[: args.baseline_texts]
    needles = [" " + " ".join(key) + " " for _, _, key in safe]
    started = time.process_time()
    for text in sample:
        haystack = " " + " ".join(tokens(text)) + " "
        _ = [needle for needle in needles if needle in haystack]
    baseline_seconds = time.process_time() - started
    sample_size = sum(len(t.encode()) for t in sample)
    baseline_rate = sample_size / baseline_seconds / 1e6
    rate = size / best / 1e6

    print(
        json.dumps(
            {
                "benchmark": "names",
                "machine": {"python": platform.python_version(), "processor": platform.machine(), "cores_used": 1},
                "names_and_aliases": figures.names_and_aliases,
                "names_matched_for": len(safe),
                "names_set_aside_as_unsafe": len(unsafe),
                "phrases": len(names),
                "text_megabytes": round(size / 1e6, 1),
                "texts": len(texts),
                "texts_with_mentions": texts_with_mentions,
                "mentions": mentions,
                "index_build_cpu_seconds": round(build_seconds, 2),
                "scan_cpu_seconds": round(best, 3),
                "megabytes_per_second": round(rate, 1),
                "names_and_products_megabytes_per_second": round(size / full_seconds / 1e6, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
                "baseline": {
                    "method": "every name looked for in each text's normalised words, on a sample, extrapolated",
                    "sample_megabytes": round(sample_size / 1e6, 3),
                    "megabytes_per_second": round(baseline_rate, 4),
                },
                "speedup_vs_baseline": round(rate / baseline_rate),
                "targets": {"megabytes_per_second>=20": rate >= 20},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
