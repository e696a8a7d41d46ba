"""The fuzz targets (``fuzz/``) run for a bounded time in ``make test``: every parser and extraction, a few seconds
each, with no crash. The seed is fixed, so the run explores the start of one sequence of inputs, the one a longer
run with the same seed was checked against: a new find fails ``make fuzz`` (a new seed each run), not CI at
random. ``make fuzz`` runs them for longer."""

from __future__ import annotations

import subprocess
import sys

import pytest
from paths import ROOT

pytest.importorskip("atheris", reason="atheris (the test extra) installs on Linux x86_64 only")


@pytest.mark.slow
def test_every_fuzz_target_runs_without_a_crash() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "--seconds", "2", "--jobs", "2", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no crash" in done.stdout
