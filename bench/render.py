"""Benchmark (contract §7): the CPU an email costs to render and store, through the real dispatch path.

    .venv/bin/python bench/render.py [--emails 500] [--rounds 3] [--baseline-tree DIR]

A configuration of ``--emails`` establishments (French and English) is written to a temporary folder and
prepared once as the daemon prepares it (not timed; the first round compiles the templates, as a daemon's first
dispatch does, and the best round is a later one). Each round opens a fresh state store there, queues one to three
varied alerts per establishment (the alerts of ``bench/dispatch.py``; not timed), then times
``Dispatcher.dispatch``: references allocated, emails rendered, put in the outbox and committed (nothing is sent).
The figure is CPU time (``time.process_time``) per email, best of ``--rounds``; the wall time is printed beside
it (the fsyncs of the commits and of the marker are wall, not CPU).

The baseline is measured in the same run: what the standard library alone costs to build an ``EmailMessage`` of
the same parts with ``email.policy.default`` (``set_content``, ``add_alternative``, two attachments, ``as_bytes``),
from the bodies alertd rendered. With ``--baseline-tree DIR`` (a checkout of another version of alertd), the same
dispatch is also timed with that tree's code, in a subprocess, back to back. Prints one JSON object with the load
average; the target is at most 2 ms of CPU per rendered, stored email. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/dispatch.py's alerts, whichever tree runs this

import dispatch
from dispatch import NOW, _alerts

from alertd.config.files import load_config
from alertd.service import logs
from alertd.service.dispatch import Dispatcher
from alertd.service.setup import Prepared, prepare
from alertd.store.sqlite import Store


def write_config(folder: Path, count: int) -> Path:
    """bench/dispatch.py's alertd.yaml (no server is reached), its registry replaced by ``count`` establishments,
    French and English, one contact each (two for every fifth)."""
    config = dispatch.write_config(folder, 25)
    lines = ["establishments:"]
    for n in range(count):
        contacts = f"{{email: rssi@bench-{n}.example}}"
        if n % 5 == 0:
            contacts += f", {{email: astreinte@bench-{n}.example}}"
        language = ("fr", "en")[n % 2]
        lines.append(
            f"  - {{id: '{330000000 + n}', name: Centre hospitalier {n}, language: {language}, contacts: [{contacts}]}}"
        )
    (folder / "establishments.yaml").write_text("\n".join(lines) + "\n")
    return config


def _round(folder: Path, prepared: Prepared, count: int, n_round: int) -> tuple[float, float, list[bytes]]:
    """One round in a fresh state folder: (CPU seconds, wall seconds, the stored messages)."""
    state = folder / f"state-{n_round}"
    state.mkdir()
    store = Store.in_state_dir(state)
    try:
        alerts = [a for n in range(count) for a in _alerts(n, f"{330000000 + n}")]
        store.save_findings([a.finding for a in alerts], alerts, NOW)
        dispatcher = Dispatcher(store, lambda: prepared)
        cpu, wall = time.process_time(), time.perf_counter()
        deliveries = dispatcher.dispatch(NOW)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if len(deliveries) != count:
            raise SystemExit(f"{len(deliveries)} emails put in the outbox, {count} expected")
        messages = [store.message(d) for d in deliveries]
    finally:
        store.close()
    return cpu, wall, messages


def _stdlib(messages: Sequence[bytes]) -> float:
    """CPU seconds the standard library takes to build and serialise ``EmailMessage`` objects of the same parts
    (text, HTML, CSV and JSON attachments) with ``email.policy.default``."""
    parts = []
    for raw in messages:
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        headers = [(k, str(v)) for k, v in parsed.items() if not k.lower().startswith(("content-", "mime-"))]
        found = [p for p in parsed.walk() if not p.is_multipart()]
        parts.append((headers, [(p.get_content_type(), p.get_content(), p.get_filename()) for p in found]))
    cpu = time.process_time()
    for headers, leaves in parts:
        msg = EmailMessage(policy=policy.default)
        for key, value in headers:
            msg[key] = value
        (_, text, _), (_, html, _), *files = leaves
        msg.set_content(text, subtype="plain", cte="quoted-printable", params={"format": "flowed", "delsp": "no"})
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        for ctype, content, name in files:
            maintype, subtype = ctype.split("/")
            data = content if isinstance(content, bytes) else content.encode()
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        msg.as_bytes()
    return time.process_time() - cpu


def measure(count: int, rounds: int) -> dict[str, Any]:
    """Best of ``rounds``: alertd's CPU and wall per email, and the stdlib's CPU per email on the same parts."""
    best_cpu = best_wall = best_stdlib = float("inf")
    size = 0
    with tempfile.TemporaryDirectory(prefix="alertd-bench-render-") as tmp:
        folder = Path(tmp)
        write_config(folder, count)
        prepared = prepare(load_config(folder / "alertd.yaml"))  # as the daemon keeps it: templates compiled once
        with open(folder / "alertd.log", "w") as log_file, contextlib.redirect_stderr(log_file):
            logs.configure("info", json=True)  # the daemon's logging, one line per email, to a file
            for n_round in range(rounds):
                cpu, wall, messages = _round(folder, prepared, count, n_round)
                best_cpu, best_wall = min(best_cpu, cpu), min(best_wall, wall)
                best_stdlib = min(best_stdlib, _stdlib(messages))
                size = sum(map(len, messages)) // len(messages)
    return {
        "cpu_ms_per_email": round(best_cpu * 1000 / count, 3),
        "wall_ms_per_email": round(best_wall * 1000 / count, 3),
        "stdlib_build_cpu_ms_per_email": round(best_stdlib * 1000 / count, 3),
        "mean_message_bytes": size,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout of alertd, timed back to back")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)  # one tree's figures, for the parent
    args = parser.parse_args(argv)
    if args.raw:
        print(json.dumps(measure(args.emails, args.rounds)))
        return 0
    load_before = os.getloadavg()
    figures = measure(args.emails, args.rounds)
    result: dict[str, Any] = {
        "benchmark": "render",
        "emails": args.emails,
        "rounds": args.rounds,
        "alertd": figures,
        "ratio_stdlib_build_to_alertd": round(
            figures["stdlib_build_cpu_ms_per_email"] / figures["cpu_ms_per_email"], 2
        ),
        "target_cpu_ms_per_email": 2.0,
    }
    if args.baseline_tree is not None:
        tree = args.baseline_tree.resolve()
        env = {**os.environ, "PYTHONPATH": str(tree)}
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--raw", "--emails", str(args.emails),
             "--rounds", str(args.rounds)],
            env=env, cwd=tree, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        baseline = json.loads(out)
        result["baseline_tree"] = {"path": str(tree), **baseline}
        result["ratio_baseline_to_alertd"] = round(baseline["cpu_ms_per_email"] / figures["cpu_ms_per_email"], 2)
    result["loadavg"] = {"before": list(load_before), "after": list(os.getloadavg())}
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
