"""Benchmark: the commands an operator runs, with the full FINESS registry (issue #14: each within 10 s).

Builds the registry of the 2021-01-08 extract once (95,333 establishments, one file per department, 5,000
operator aliases: :func:`bench.finess_build.build_registry`), with a leak-site feed read from a file
(ransomware.live's posts of 2023-06-04, 6,574 posts), then times each command from outside, in a subprocess, as
an operator would wait for it: ``alertd check``, ``alertd poll --dry-run``, ``alertd run`` until its first poll
is logged, and a reload (one department file edited, SIGHUP) until the reload is logged. Baselines in the same
run: a bare ``alertd --help`` (the interpreter and alertd's imports) and yaml-rs alone loading every registry
file. Prints JSON; asserts nothing. About a minute on two cores, when ``../shared/finess`` is beside the checkout.

As deployed: alertd's modules compiled to bytecode first (an installed package is; a development checkout under
``PYTHONDONTWRITEBYTECODE`` is not, and would compile them in every command, about 1 s), and the state directory
made before ``check`` runs (systemd's ``StateDirectory=`` does, and the unit runs ``check`` then ``run``). So
``check`` starts from nothing and keeps the parsed registry files in ``state/cache/``; ``poll`` reads them back,
builds the match index and keeps it; ``run`` reads both back; the reload parses the edited file and builds the
index. ``poll_dry_run_without_cache_seconds``: the same poll with ``state/cache/`` deleted first.

    .venv/bin/python bench/finess.py
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finess_build import FINESS_CSV, IMPORT_SECONDS, ROOT, build_registry
from outside import ALERTD, Daemon, timed, write_settings, yaml_rs_alone

TARGET_SECONDS = 10


def _daemon(folder: Path) -> dict[str, Any]:
    """``alertd run`` until its first poll is logged; then one department edited, SIGHUP, until the reload is."""
    daemon = Daemon(folder)
    try:
        first_poll = daemon.wait_log("feed polled") - daemon.started
        first_poll_cpu = daemon.cpu()
        edited = folder / "establishments" / "finess-13.yaml"
        text = edited.read_text(encoding="utf-8")
        edited.write_text(text.replace("    name: ", "    name: RENAMED ", 1), encoding="utf-8")
        time.sleep(1)  # past the start-up's dispatch, so that the reload is what is timed
        cpu = daemon.cpu()
        sent = daemon.reload()
        reload = daemon.wait_log("configuration reloaded", after=sent) - sent
        reload_cpu = daemon.cpu() - cpu
    finally:
        daemon.stop()
    return {
        "start_to_first_poll_seconds": round(first_poll, 2),
        "reload_one_file_seconds": round(reload, 2),
        "cpu": {
            "start_to_first_poll_seconds": round(first_poll_cpu, 2),
            "reload_one_file_seconds": round(reload_cpu, 2),
        },
    }


def main() -> None:
    """Build, measure, print JSON."""
    if not FINESS_CSV.exists():
        print(json.dumps({"skipped": f"{FINESS_CSV} not found (the shared data beside the checkout)"}))
        return
    with tempfile.TemporaryDirectory(prefix="alertd-bench-finess-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        files = build_registry(folder / "establishments")
        built = round(time.perf_counter() - started, 1)
        write_settings(folder)
        size = sum(f.stat().st_size for f in files)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "alertd")], check=True)
        (folder / "state").mkdir(mode=0o700)
        help_ = timed([ALERTD, "--help"], folder)
        yaml_alone = yaml_rs_alone(folder / "establishments", folder)
        check = timed([ALERTD, "-c", "alertd.yaml", "check"], folder)
        poll = timed([ALERTD, "-c", "alertd.yaml", "poll", "--dry-run"], folder)
        daemon = _daemon(folder)
        shutil.rmtree(folder / "state" / "cache")
        cold = timed([ALERTD, "-c", "alertd.yaml", "poll", "--dry-run"], folder)
    findings = [json.loads(line) for line in poll["stdout"].splitlines() if line.startswith("{")]
    warnings = [line for line in check["stderr"].splitlines() if ": warning: " in line]
    daemon_cpu = daemon.pop("cpu")
    figures = {
        "check_seconds": check["seconds"],
        "poll_dry_run_seconds": poll["seconds"],
        **daemon,
    }
    cpu_figures = {"check_seconds": check["cpu_seconds"], "poll_dry_run_seconds": poll["cpu_seconds"], **daemon_cpu}
    report = {
        "benchmark": "national registry: check, first poll, start and reload (issue #14)",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "registry": {
            "files": len(files),
            "bytes": size,
            "built_in_seconds": built,
            "alertd_registry_import_finess_seconds": round(IMPORT_SECONDS[-1], 1),
        },
        "figures": figures,
        "cpu_figures": cpu_figures,  # CPU seconds of the same commands (the daemon's own, up to each event)
        "check": {
            "exit": check["exit"],
            "warning_lines": len(warnings),
            "summary_lines": sum("names given by FINESS" in w for w in warnings),
            "last_line": check["stdout"].strip()[-120:],
        },
        "poll_dry_run": {"exit": poll["exit"], "findings_printed": len(findings)},
        "poll_dry_run_without_cache_seconds": cold["seconds"],
        "poll_dry_run_without_cache_cpu_seconds": cold["cpu_seconds"],
        "baselines": {
            "alertd_help_seconds": help_["seconds"],
            "alertd_help_cpu_seconds": help_["cpu_seconds"],
            "yaml_rs_alone_seconds": yaml_alone["seconds"],
        },
        "ratio_to_alertd_help": {k: round(v / help_["seconds"], 1) for k, v in figures.items()},
        "ratio_to_yaml_rs_alone": {k: round(v / yaml_alone["seconds"], 1) for k, v in figures.items()},
        "target_seconds": TARGET_SECONDS,
        "within_target": {k: v <= TARGET_SECONDS for k, v in figures.items()},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
