"""Benchmark: establishment names and product mentions in advisory and leak-site text, as the daemon scans them
(contract §7: >= 20 MB/s of text).

Times :meth:`alertd.match.index.MatchIndex.scan`, the path every feed entry's text takes: the name forms of every
open establishment with the evidence each mention needs (:mod:`alertd.match.name_evidence`), and the products of
the registry's software inventory, over one cut of the text into words. Two registries:

- ``generated``: the seeded 100,000-establishment registry of :mod:`workload` (about 120,000 names and aliases,
  10,000 software items);
- ``finess``: the full FINESS extract of 2021-01-08 (95,333 establishments: short and long names, and the
  category-and-commune forms of the hospitals), read from ``../shared/finess/`` beside the checkout; left out
  when that folder is missing. Its names are made of common words ("Pharmacie du Centre", "… Sauvegarde"), so
  that most advisories hold every word of some name, apart.

Each is scanned over 30 MB of generated advisories and leak-site posts of 1 to 4 KB (French and English prose,
place names, and in a quarter of them a name of the registry written as people write it: upper case, accents
dropped, no hyphens). Throughput is in CPU seconds of this process, the best of three rounds. The baseline, in
the same run: every name looked for in each text's normalised words, timed on a sample and extrapolated.
Prints JSON, asserts nothing.

    .venv/bin/python bench/names.py [--megabytes 30] [--seed 7] [--registry generated|finess|both]
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "tests"):  # the package, and the acceptance test's FINESS reader
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from finess_registry import FINESS_FHIR, finess_registry  # noqa: E402
from workload import build_registry, build_texts  # noqa: E402

from alertd.domain.establishments import Registry  # noqa: E402
from alertd.match.index import MatchIndex  # noqa: E402
from alertd.match.names import name_keys  # noqa: E402
from alertd.match.normalise import tokens  # noqa: E402


def measure(name: str, registry: Registry, megabytes: float, seed: int, baseline_texts: int) -> dict[str, Any]:
    """Build the match index of ``registry`` and time its scan of generated texts naming its establishments."""
    texts = list(build_texts(registry, seed=seed + 6, megabytes=megabytes))
    size = sum(len(t.encode()) for t in texts)
    started = time.process_time()
    index = MatchIndex(registry, benign=None)
    build_seconds = time.process_time() - started

    gc.disable()
    best = float("inf")
    found: list[Any] = []
    for _ in range(3):
        started = time.process_time()
        found = [index.scan(text) for text in texts]
        best = min(best, time.process_time() - started)
    gc.enable()
    named = [names for names, _ in found]

    # The simple way: every name, looked for in each text's normalised words.
    safe, unsafe = name_keys(registry)
    sample = texts[:baseline_texts]
    needles = [" " + " ".join(key) + " " for _, _, key in safe]
    started = time.process_time()
    for text in sample:
        haystack = " " + " ".join(tokens(text)) + " "
        _ = [needle for needle in needles if needle in haystack]
    baseline_seconds = time.process_time() - started
    sample_size = sum(len(t.encode()) for t in sample)
    baseline_rate = sample_size / baseline_seconds / 1e6
    rate = size / best / 1e6
    return {
        "registry": name,
        "establishments": len(registry.establishments),
        "names_looked_for": len(safe),
        "name_forms": len(index.names),
        "names_set_aside_as_unsafe": len(unsafe),
        "text_megabytes": round(size / 1e6, 1),
        "texts": len(texts),
        "texts_naming_an_establishment": sum(1 for n in named if n),
        "mentions": sum(len(n) for n in named),
        "texts_mentioning_a_product": sum(1 for _, products in found if products),
        "index_build_cpu_seconds": round(build_seconds, 2),
        "scan_cpu_seconds": round(best, 3),
        "megabytes_per_second": round(rate, 1),
        "baseline": {
            "method": "every name looked for in each text's normalised words, on a sample, extrapolated",
            "sample_megabytes": round(sample_size / 1e6, 3),
            "megabytes_per_second": round(baseline_rate, 4),
        },
        "speedup_vs_baseline": round(rate / baseline_rate),
        "targets": {"megabytes_per_second>=20": rate >= 20},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--megabytes", type=float, default=30.0)
    parser.add_argument("--baseline-texts", type=int, default=10)
    parser.add_argument("--registry", choices=("generated", "finess", "both"), default="both")
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    if args.registry in ("generated", "both"):
        registry, figures = build_registry(seed=args.seed, software=10_000)
        runs.append(measure("generated", registry, args.megabytes, args.seed, args.baseline_texts))
        runs[-1]["names_and_aliases"] = figures.names_and_aliases
        del registry
    if args.registry in ("finess", "both") and FINESS_FHIR:
        runs.append(measure("finess", finess_registry(), args.megabytes, args.seed, args.baseline_texts))
    print(
        json.dumps(
            {
                "benchmark": "names",
                "path": "MatchIndex.scan: name forms with their evidence, and product mentions",
                "machine": {"python": platform.python_version(), "processor": platform.machine(), "cores_used": 1},
                "runs": runs,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
