"""Benchmark: loading a national registry of 100,000 establishments (contract §7).

Generates a seeded, deterministic registry of realistic size (about 100 MB of YAML: names, aliases, contacts, two
networks, one or two domains, 7 to 11 software items each) into a temporary folder, once as one file and once as
100 files, then measures, each in a fresh interpreter: a cold load of each, a reload of the folder after one of
its files was edited (with a :class:`~alertd.config.registry.RegistryCache`), and the baseline — what alertd did before,
PyYAML's C loader building positions then the same checks — timed on a sample and extrapolated by size. Prints
JSON with the ratio to the baseline; asserts nothing. About a minute on two cores.

    .venv/bin/python bench/registry.py [--establishments 100000] [--files 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alertd.config import yamlsrc  # noqa: E402
from alertd.config.registry import RegistryCache, _load_slow, load_registry  # noqa: E402

KINDS = ("CHU", "CH", "clinique", "EHPAD", "laboratoire", "pharmacie", "SSR", "HAD", "centre de santé")
NAME_PREFIX = {
    "CHU": "Centre Hospitalier Universitaire de",
    "CH": "Centre Hospitalier de",
    "clinique": "Clinique Saint-Joseph de",
    "EHPAD": "EHPAD Les Jardins de",
    "laboratoire": "Laboratoire de biologie de",
    "pharmacie": "Pharmacie du Centre de",
    "SSR": "Centre de rééducation de",
    "HAD": "Hospitalisation à domicile de",
    "centre de santé": "Centre de santé municipal de",
}
SHORT = {"CHU": "CHU", "CH": "CH", "clinique": "Clinique", "EHPAD": "EHPAD", "laboratoire": "Labo"}
REGIONS = (
    "Auvergne-Rhône-Alpes",
    "Bourgogne-Franche-Comté",
    "Bretagne",
    "Centre-Val de Loire",
    "Corse",
    "Grand Est",
    "Hauts-de-France",
    "Île-de-France",
    "Normandie",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Pays de la Loire",
    "Provence-Alpes-Côte d'Azur",
    "Guadeloupe",
    "Martinique",
    "La Réunion",
)
TOWNS = (
    "Bordeaux",
    "Lyon",
    "Saint-Étienne",
    "Nîmes",
    "Besançon",
    "Aix-en-Provence",
    "Quimper",
    "Orléans",
    "Metz",
    "Amiens",
    "Caen",
    "Limoges",
    "Toulouse",
    "Nantes",
    "Pointe-à-Pitre",
    "Ajaccio",
    "Évreux",
    "Valenciennes",
    "Châlons-en-Champagne",
    "Montbéliard",
)
SOFTWARE = (
    ("Citrix", "NetScaler ADC", ("13.1-49.13", "14.1-12.35", "13.0-92.21")),
    ("Fortinet", "FortiOS", ("7.2.4", "7.4.1", "6.4.15")),
    ("Microsoft", "Exchange Server", ("2019 CU12", "2016 CU23")),
    ("Ivanti", "Connect Secure", ("22.7R2.4", None)),
    ("VMware", "vCenter Server", ("8.0U2", "7.0.3")),
    ("Atlassian", "Confluence", ("8.5.3",)),
    ("Palo Alto", "PAN-OS", ("10.2.9", "11.1.2-h3")),
    ("Cisco", "ASA", ("9.18.4",)),
    ("Apache", "HTTP Server", ("2.4.58",)),
    ("Veeam", "Backup & Replication", ("12.1.0.2131",)),
    ("Zimbra", "Collaboration", ("10.0.6",)),
    ("Microsoft", "Windows Server", ("2019", "2022")),
    ("Oracle", "WebLogic Server", ("14.1.1.0.0",)),
)
CPES = (
    "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*",
    "cpe:2.3:a:microsoft:exchange_server:2019:cumulative_update_12:*:*:*:*:*:*",
    "cpe:2.3:a:apache:http_server:2.4.58:*:*:*:*:*:*:*",
    "cpe:2.3:a:vmware:vcenter_server:8.0:update_2:*:*:*:*:*:*",
    "cpe:2.3:o:paloaltonetworks:pan-os:10.2.9:*:*:*:*:*:*:*",
)


def establishment_yaml(i: int, rnd: random.Random) -> str:
    """One establishment as an operator would write it (the contract §2 example's style)."""
    kind = KINDS[rnd.randrange(len(KINDS))]
    town = TOWNS[rnd.randrange(len(TOWNS))]
    name = f"{NAME_PREFIX[kind]} {town} {i}"
    slug = f"{SHORT.get(kind, 'ets').lower()}-{i}"
    short = f"{SHORT.get(kind, 'Ets')} {town} {i}"
    lines = [
        f'  - id: "{i:09d}"',
        f"    name: {name}",
        f"    aliases: [{short}]" if rnd.random() < 0.7 else f"    aliases: [{short}, {slug.upper()}]",
        f"    kind: {kind}",
        f"    region: {REGIONS[rnd.randrange(len(REGIONS))]}",
        f"    tags: [ght-{rnd.randrange(130)}]",
        "    language: fr" if rnd.random() < 0.95 else "    language: en",
        "    contacts:",
        f"      - {{email: rssi@{slug}.example, role: security}}"
        if rnd.random() < 0.5
        else f"      - {{email: rssi@{slug}.example}}",
    ]
    if rnd.random() < 0.25:
        lines.append(f"      - {{email: astreinte@{slug}.example, role: on-call, min_severity: imminent}}")
    v4 = f"{20 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24"
    v6 = f"2a01:cb{(i >> 16) & 255:02x}:{i & 0xFFFF:x}::/48"
    lines.append(f'    networks: [{v4}, "{v6}"]')
    if rnd.random() < 0.5:
        lines.append(f"    asns: [{64512 + rnd.randrange(1000)}]")
    domains = [f"{slug}.example"] + ([f"{slug}-sante.example"] if rnd.random() < 0.3 else [])
    lines.append(f"    domains: [{', '.join(domains)}]")
    lines.append("    software:")
    for _ in range(rnd.randint(7, 11)):
        if rnd.random() < 0.1:
            lines.append(f'      - {{cpe: "{CPES[rnd.randrange(len(CPES))]}"}}')
            continue
        vendor, product, versions = SOFTWARE[rnd.randrange(len(SOFTWARE))]
        version = versions[rnd.randrange(len(versions))]
        lines.append(
            f"      - {{vendor: {vendor}, product: {product}}}"
            if version is None
            else f'      - {{vendor: {vendor}, product: {product}, version: "{version}"}}'
            if rnd.random() < 0.5
            else f"      - {{vendor: {vendor}, product: {product}, version: {version}}}"
        )
    return "\n".join(lines) + "\n"


def generate(folder: Path, establishments: int, files: int, seed: int) -> tuple[Path, Path]:
    """Write the registry as one file and as ``files`` files; return (one_file, folder_of_files)."""
    rnd = random.Random(seed)
    header = "# Generated by bench/registry.py; fictional establishments.\nestablishments:\n"
    items = [establishment_yaml(i + 1, rnd) for i in range(establishments)]
    one = folder / "registry.yaml"
    one.write_text(header + "".join(items), encoding="utf-8")
    many = folder / "registry.d"
    many.mkdir()
    per = -(-establishments // files)
    for n in range(files):
        chunk = items[n * per : (n + 1) * per]
        (many / f"part-{n:03d}.yaml").write_text(header + "".join(chunk), encoding="utf-8")
    return one, many


def _measure(kind: str, target: Path, sample_mb: float) -> dict[str, Any]:
    """One measurement, run in its own process so that its time and peak memory are its own."""
    figures: dict[str, Any] = {}
    if kind == "cold":
        cache = RegistryCache()
        wall, cpu = time.perf_counter(), time.process_time()
        registry = load_registry(target, cache)
        figures = _figures(wall, cpu) | {"establishments": len(registry.establishments)}
        figures |= {"files": cache.parsed, "items_read_by_pyyaml": cache.slow_items}
        if target.is_dir():  # then edit one file and reload, as an operator would before a SIGHUP
            # A daemon runs for a while between its start and an operator's edit, and Python's cyclic collector
            # runs in that time: its first full pass over the freshly loaded registry is not the reload's cost.
            gc.collect()
            edited = sorted(target.glob("*.yaml"))[len(registry.files) // 2]
            text = edited.read_text(encoding="utf-8")
            old_name = text.split("\n    name: ", 2)[1].split("\n", 1)[0]
            edited.write_text(text.replace(old_name, old_name + " (renamed)", 1), encoding="utf-8")
            before = cache.parsed
            wall, cpu = time.perf_counter(), time.process_time()
            load_registry(target, cache)
            figures["reload_after_edit"] = _figures(wall, cpu) | {
                "files_parsed": cache.parsed - before,
                "files_reused": cache.reused,
            }
            wall, cpu = time.perf_counter(), time.process_time()
            load_registry(target, cache)
            figures["reload_unchanged"] = _figures(wall, cpu)
    elif kind == "baseline":
        # What alertd did before: PyYAML's C loader building positions, then the checks, over the whole file.
        text = target.read_text(encoding="utf-8")
        sample = text[: text.index("\n  - id:", int(sample_mb * 1e6)) + 1]
        sample_bytes = len(sample.encode("utf-8"))
        wall, cpu = time.perf_counter(), time.process_time()
        result = _load_slow(str(target), sample)
        figures = _figures(wall, cpu) | {"sample_bytes": sample_bytes, "sample_establishments": result.count}
        wall = time.perf_counter()
        yaml.load(sample, Loader=yaml.CSafeLoader)  # the C loader alone, no positions, no checks
        figures["c_loader_alone_seconds"] = round(time.perf_counter() - wall, 3)
    return figures


def _figures(wall: float, cpu: float) -> dict[str, Any]:
    return {
        "seconds": round(time.perf_counter() - wall, 3),
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def _run(kind: str, target: Path, sample_mb: float) -> dict[str, Any]:
    """:func:`_measure` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(target), "--baseline-sample-mb", str(sample_mb)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def main(argv: list[str] | None = None) -> None:
    """Generate, measure, print JSON."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--establishments", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline-sample-mb", type=float, default=3.0)
    ap.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.measure[0], Path(args.measure[1]), args.baseline_sample_mb)))
        return
    with tempfile.TemporaryDirectory(prefix="alertd-bench-") as tmp:
        started = time.perf_counter()
        one, many = generate(Path(tmp), args.establishments, args.files, args.seed)
        size = one.stat().st_size
        generated = round(time.perf_counter() - started, 1)
        text = one.read_text(encoding="utf-8")
        shape = {
            "establishments": args.establishments,
            "bytes": size,
            "files_in_folder": args.files,
            "networks": text.count("    networks: [") * 2,
            "software_items": text.count("      - {vendor: ") + text.count("      - {cpe: "),
            "generated_in_seconds": generated,
        }
        del text
        cold_one = _run("cold", one, args.baseline_sample_mb)
        cold_many = _run("cold", many, args.baseline_sample_mb)
        baseline = _run("baseline", one, args.baseline_sample_mb)
    reload = cold_many.pop("reload_after_edit")
    unchanged = cold_many.pop("reload_unchanged")
    per_byte = baseline["seconds"] / baseline["sample_bytes"]
    baseline_full = per_byte * size
    report = {
        "benchmark": "registry load (contract §7)",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "yaml_rs": importlib.metadata.version("yaml-rs") if yamlsrc.FAST_PARSER else None,
        },
        "registry": shape,
        "cold_load_one_file": cold_one,
        "cold_load_many_files": cold_many,
        "reload_after_editing_one_file": reload,
        "reload_unchanged": unchanged,
        "baseline_pyyaml_positions_and_checks": baseline
        | {
            "mb_per_second": round(baseline["sample_bytes"] / 1e6 / baseline["seconds"], 2),
            "extrapolated_seconds_for_registry": round(baseline_full, 1),
            "c_loader_alone_extrapolated_seconds": round(
                baseline["c_loader_alone_seconds"] / baseline["sample_bytes"] * size, 1
            ),
        },
        "ratio_to_baseline": {
            "cold_load_one_file": round(baseline_full / cold_one["seconds"], 1),
            "cold_load_many_files": round(baseline_full / cold_many["seconds"], 1),
            "reload_after_editing_one_file": round(baseline_full / reload["seconds"], 1),
        },
        "targets": {"cold_load_seconds": 10, "reload_seconds": 2},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
