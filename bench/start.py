"""Benchmark: from a cold start to the first poll, a warm start, and a reload after editing one registry file,
each timed from outside on the real ``alertd run`` (contract §7: start <= 10 s to the first poll, reload <= 2 s).

Two registries: the generated one of ``bench/registry.py`` (100,000 establishments in 100 files, about 100 MB of
YAML) and, when ``../shared/finess/`` is beside the checkout, the full FINESS registry as ``bench/finess.py``
builds it (95,333 establishments in 100 department files). For each, with a leak-site feed read from a file:

- cold: ``state_dir/cache/`` empty, ``alertd run`` until READY=1 on its notify socket and until its first poll is
  logged; then one file edited (an establishment renamed), SIGHUP, until ``configuration reloaded`` is logged;
- warm: stopped, and started again over the state the cold run left (cache and store), with the feed renamed so
  that it polls at once; the same two times, and a reload after a second edit;
- warm cache, empty store: the store removed, the cache kept (a first start whose cache ``alertd check`` or a
  previous install filled): the store notes the whole registry's scope for first contact before its first poll.

Each run also gives what keeping the running configuration cost (``state_dir/running-config/``, for ``alertd check
--against-running``): the files written and the seconds of the thread that writes them, at the start and at each
reload, and the folder's size; and, in this process, a reload's load with and without recording what it read (the
files hashed, the new bytes held), the registry cache warm as the daemon's is.

Baselines in the same run: a bare ``alertd --help`` (the interpreter and alertd's imports) and yaml-rs alone
over every registry file. Modules are compiled to bytecode first, as an installed package's are. Prints JSON
with the load average; asserts nothing. A few minutes on two cores.

    .venv/bin/python bench/start.py [--establishments 100000] [--no-finess]
"""

from __future__ import annotations

import argparse
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

from finess_build import FINESS_CSV, ROOT, build_registry
from outside import ALERTD, FEEDS, Daemon, timed, write_settings, yaml_rs_alone
from registry import generate

from alertd.config.files import load_config, load_recorded
from alertd.config.registry import RegistryCache
from alertd.store import loaded

TARGETS = {"start_to_first_poll_seconds": 10, "reload_one_file_seconds": 2}


def _edit(folder: Path, nth: int) -> None:
    """Rename the first establishment of the ``nth`` file of the middle of the folder, as an operator would."""
    files = sorted((folder / "establishments").glob("*.yaml"))
    edited = files[len(files) // 2 + nth]
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("    name: ", "    name: RENAMED ", 1), encoding="utf-8")


def _index_kept(daemon: Daemon, since: float, wall: float) -> None:
    """When the daemon built an index after ``since`` (its clock; ``wall``: the same moment on the wall clock),
    wait until it has kept it and the registry files it parsed in ``state/cache/``: threads of their own write them
    after the poll or the reload, and the next figure must not pay for it."""
    if not any(at >= since and '"event": "match index built"' in line for at, line in daemon.lines):
        return
    cache = daemon.folder / "state" / "cache"
    limit = time.perf_counter() + 120
    while time.perf_counter() < limit:
        kept = cache / "match-index.pickle"
        if kept.exists() and kept.stat().st_mtime >= wall and not list(cache.glob(".match-index.pickle.*")):
            break
        time.sleep(0.1)
    # An index built here means registry files parsed: another thread keeps them, after the poll or the reload too.
    daemon.wait_log("registry files kept", after=since)


def _running_kept(daemon: Daemon, since: float) -> dict[str, Any]:
    """What the daemon logged of keeping the running configuration, the first time after ``since``."""
    at = daemon.wait_log("running configuration kept", after=since)
    text = next(t for when, t in daemon.lines if when == at and "running configuration kept" in t)
    event = json.loads(text)
    return {"files": event["files"], "written": event["written"], "seconds": event["seconds"]}


def _recording_cost(folder: Path) -> dict[str, Any]:
    """A reload's load in this process (the registry cache warm), without and with recording what it read; best of
    three each."""
    config = folder / "alertd.yaml"
    cache = RegistryCache()
    load_config(config, cache, warnings=False)

    def best(load: Any) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            load(config, cache)
            times.append(time.perf_counter() - started)
        return round(min(times), 3)

    plain = best(lambda c, r: load_config(c, r, warnings=False))
    recorded = best(load_recorded)
    return {"load_seconds": plain, "load_recorded_seconds": recorded, "ratio": round(recorded / plain, 2)}


def _forget_polls(state: Path) -> None:
    """Everything of the state directory but ``cache/``: a first start over a warm cache."""
    for path in state.iterdir():
        if path.name != "cache":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _new_feed(folder: Path, n: int) -> None:
    """The same feed under a name the store has not polled: a restart polls it at once (a feed polled a minute
    ago would wait for its interval), over the state the daemon left."""
    (folder / "feeds.yaml").write_text(FEEDS.replace("id: leaks", f"id: leaks-{n}"))


def _run(folder: Path, reloads: int) -> dict[str, Any]:
    """``alertd run`` to READY=1 and its first poll, then ``reloads`` edits each followed by a SIGHUP."""
    wall = time.time()
    daemon = Daemon(folder)
    try:
        ready = daemon.wait_notice("READY=1") - daemon.started
        first_poll = daemon.wait_log("feed polled") - daemon.started
        figures: dict[str, Any] = {
            "ready_seconds": round(ready, 2),
            "start_to_first_poll_seconds": round(first_poll, 2),
            "start_to_first_poll_cpu_seconds": round(daemon.cpu(), 2),
            "running_config_kept": _running_kept(daemon, daemon.started),
        }
        _index_kept(daemon, daemon.started, wall)
        time.sleep(1)  # past the start-up's dispatch, so that the reload is what is timed
        for n in range(reloads):
            _edit(folder, n)
            cpu, wall = daemon.cpu(), time.time()
            sent = daemon.reload()
            done = daemon.wait_log("configuration reloaded", after=sent)
            key = "reload_one_file" if n == 0 else f"reload_one_file_{n + 1}"
            figures[f"{key}_seconds"] = round(done - sent, 2)
            figures[f"{key}_cpu_seconds"] = round(daemon.cpu() - cpu, 2)
            figures[f"{key}_running_config_kept"] = _running_kept(daemon, done)
            _index_kept(daemon, sent, wall)
            time.sleep(1)
    finally:
        daemon.stop()
    return figures


def measure(folder: Path) -> dict[str, Any]:
    """Baselines, a cold run and a warm run over the registry in ``folder/establishments``."""
    write_settings(folder)
    (folder / "state").mkdir(mode=0o700)
    files = sorted((folder / "establishments").glob("*.yaml"))
    help_ = timed([ALERTD, "--help"], folder)
    yaml_alone = yaml_rs_alone(folder / "establishments", folder)
    recording = _recording_cost(folder)
    load = [round(os.getloadavg()[0], 2)]
    cold = _run(folder, reloads=1)
    kept = folder / "state" / loaded.FOLDER
    running_config_bytes = sum(p.stat().st_size for p in kept.iterdir())
    load.append(round(os.getloadavg()[0], 2))
    _new_feed(folder, 2)
    warm = _run(folder, reloads=2)
    load.append(round(os.getloadavg()[0], 2))
    _forget_polls(folder / "state")
    first = _run(folder, reloads=0)
    load.append(round(os.getloadavg()[0], 2))
    baseline = {"alertd_help_seconds": help_["seconds"], "yaml_rs_alone_seconds": yaml_alone["seconds"]}
    runs = {"cold": cold, "warm": warm, "warm_cache_empty_store": first}
    pairs = [(run, k) for run, figures in runs.items() for k in TARGETS if k in figures]
    figures = {f"{run}_{k}": runs[run][k] for run, k in pairs}
    return {
        "registry": {"files": len(files), "bytes": sum(f.stat().st_size for f in files)},
        **runs,
        "baselines": baseline,
        "running_config": {"bytes_after_cold_run": running_config_bytes, "reload_load_in_process": recording},
        "ratio_to_alertd_help": {k: round(v / help_["seconds"], 1) for k, v in figures.items()},
        "ratio_to_yaml_rs_alone": {k: round(v / yaml_alone["seconds"], 1) for k, v in figures.items()},
        "within_target": {f"{run}_{k}": runs[run][k] <= TARGETS[k] for run, k in pairs},
        "load_average_1m": load,
    }


def main(argv: list[str] | None = None) -> None:
    """Generate, build, measure, print JSON."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--establishments", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-finess", action="store_true", help="the generated registry alone")
    args = ap.parse_args(argv)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "alertd")], check=True)
    report: dict[str, Any] = {
        "benchmark": "start to the first poll, and a one-file reload, from outside (contract §7)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="alertd-bench-start-") as tmp:
        folder = Path(tmp) / "generated"
        folder.mkdir()
        _, many = generate(folder, args.establishments, 100, args.seed)
        (folder / "registry.yaml").unlink()
        many.rename(folder / "establishments")
        report["generated"] = {"establishments": args.establishments} | measure(folder)
    if FINESS_CSV.exists() and not args.no_finess:
        with tempfile.TemporaryDirectory(prefix="alertd-bench-start-") as tmp:
            folder = Path(tmp)
            build_registry(folder / "establishments")
            report["finess"] = {"establishments": 95_333} | measure(folder)
    else:
        report["finess"] = {"skipped": f"{FINESS_CSV} not found (the shared data beside the checkout)"}
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
