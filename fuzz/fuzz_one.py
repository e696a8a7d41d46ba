"""Fuzz one target with atheris (libFuzzer): ``python fuzz/fuzz_one.py NAME [libFuzzer options] [corpus dirs]``.

``fuzz/run.py`` starts one of these per target. The target's own modules (alertd, and the libraries its parsers
call) are instrumented for coverage; an exception escaping the target is a crash, which libFuzzer reports with the
input that caused it (``-artifact_prefix``) and a non-zero exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its sibling modules are importable

# alertd's own code is always instrumented; with ALERTD_FUZZ_DEEP=1 (``run.py --deep``, ``make fuzz``) the parsing
# libraries too, which guides the fuzzer into them but costs tens of seconds of startup on a loaded machine.
_LIBRARIES = ["feedparser", "defusedxml", "stix2patterns", "antlr4", "packageurl"]
with atheris.instrument_imports(include=["alertd", *(_LIBRARIES if os.environ.get("ALERTD_FUZZ_DEEP") else [])]):
    import targets


def main() -> None:
    """Fuzz the target named first on the command line; the remaining arguments go to libFuzzer."""
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: fuzz_one.py TARGET [libFuzzer options]; targets: {', '.join(targets.TARGETS)}")
    target = targets.TARGETS[sys.argv[1]]
    for seed in targets.seed_inputs(target)[:2]:
        target.run(seed)  # warm up: the first call's imports and caches are not the input's cost
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
