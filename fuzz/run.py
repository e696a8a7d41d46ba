"""Run every fuzz target for a bounded time: ``python fuzz/run.py --seconds N [--jobs J] [TARGET ...]``.

Each target runs in its own process (``fuzz/fuzz_one.py``, atheris over libFuzzer) for ``N`` seconds, from a fresh
corpus seeded with the samples in ``tests/data``. A crash — an exception other than the parser's ``ParseError``,
output past the feed's caps, or an input slower than its size allows (``targets.budget``) — is printed with the
file holding the input, and the run exits 1. ``make fuzz`` runs a minute per target; ``make test`` a few seconds
(``tests/intake/test_fuzz_run.py``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402 - after the path it is found on

ARTIFACTS = HERE.parent / "var" / "fuzz"  # crash inputs are kept here, named by target


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one target's run ended."""

    name: str
    ok: bool
    runs: str  # libFuzzer's count of inputs tried, as it printed it
    detail: str  # the end of the output when not ok


def fuzz(name: str, seconds: int, deep: bool = False, random_seed: int | None = None) -> Outcome:
    """Run one target for ``seconds`` in a subprocess, from a temporary corpus seeded with its samples; with
    ``random_seed``, libFuzzer's random choices are that seed's, so a short run explores the start of one sequence."""
    target = targets.TARGETS[name]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"alertd-fuzz-{name}-") as tmp:
        corpus = Path(tmp)
        for i, seed in enumerate(targets.seed_inputs(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
        command = [
            sys.executable,
            str(HERE / "fuzz_one.py"),
            name,
            f"-max_total_time={seconds}",
            f"-max_len={targets.MAX_SEED}",
            # libFuzzer's own per-input limit is a backstop only: targets.budget() judges speed by size.
            f"-timeout={int(targets.budget(targets.MAX_SEED)) * 4}",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={ARTIFACTS}/{name}-",
            "-print_final_stats=1",
            *([f"-seed={random_seed}"] if random_seed is not None else []),
            str(corpus),
        ]
        # The whole run is bounded too: startup (instrumenting the imports) plus the fuzzing time, with room.
        try:
            env = {**os.environ, "ALERTD_FUZZ_DEEP": "1"} if deep else None
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=seconds * 3 + 180, check=False, env=env
            )
        except subprocess.TimeoutExpired as exc:
            return Outcome(name, False, "?", f"did not end within {exc.timeout} s")
    output = done.stdout + done.stderr
    runs = next((line.split()[-1] for line in output.splitlines() if "stat::number_of_executed_units" in line), "?")
    if done.returncode == 0:
        return Outcome(name, True, runs, "")
    lines = output.splitlines()
    keep = [line for line in lines if not line.startswith(("#", "INFO:", "MS:"))]
    return Outcome(name, False, runs, "\n".join(keep[-40:]))


def main(argv: list[str] | None = None) -> int:
    """Run the targets named (all by default); 0 when none crashed, 1 otherwise, 2 when atheris is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target (default 60)")
    parser.add_argument("--deep", action="store_true", help="instrument the parsing libraries too (slower start)")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once (default 1)")
    parser.add_argument(
        "--seed", type=int, default=None, help="libFuzzer's random seed (default: a new one each run; make test: 1)"
    )
    parser.add_argument("names", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(targets.TARGETS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in targets.TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(targets.TARGETS)}")
    try:
        import atheris  # noqa: F401 - only whether it is there
    except ImportError:
        print("atheris is not installed: pip install -e '.[test]' (atheris wheels exist for Linux x86_64)")
        return 2
    names = args.names or list(targets.TARGETS)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda n: fuzz(n, args.seconds, args.deep, args.seed), names))
    for outcome in outcomes:
        print(f"{'ok   ' if outcome.ok else 'CRASH'} {outcome.name:<20} {outcome.runs:>8} inputs")
        if not outcome.ok:
            print("  " + outcome.detail.replace("\n", "\n  "))
    crashed = [o.name for o in outcomes if not o.ok]
    took = time.monotonic() - start
    if crashed:
        print(f"fuzz: {len(crashed)} of {len(names)} targets crashed ({', '.join(crashed)}) in {took:.0f} s")
        print(f"crash inputs: {ARTIFACTS}/<target>-crash-*; reproduce: python fuzz/fuzz_one.py TARGET FILE")
    else:
        print(f"fuzz: {len(names)} targets, {args.seconds} s each, no crash ({took:.0f} s)")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
