"""The full FINESS registry (95,333 establishments) in the layout ``alertd registry import finess`` writes, for
the benchmarks that need a national registry (``bench/finess.py``).

Runs ``alertd registry import finess`` over the real 2021-01-08 extract (``../shared/finess/fhir_flrt_20210108/``,
FHIR ``Organization`` resources; see its SOURCES.md), as an operator would. FINESS gives no aliases; operators add
some, so a seeded sprinkle of 5,000 establishments get one (the category's word and the commune, as an operator
would write it: "Centre hospitalier d'Arles"), some of them shared by two establishments of one commune, and a
contact. Run alone it builds the registry into a temporary folder and prints what it wrote.

    .venv/bin/python bench/finess_build.py [--keep FOLDER]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINESS_CSV = ROOT.parent / "shared" / "finess" / "finess_et_20210108_all.csv.gz"
ALIASED = 5000  # establishments given an alias by the "operator"
SEED = 14
IMPORT_SECONDS: list[float] = []  # the wall time of each import run by build_registry

_CEDEX = re.compile(r"\s+CEDEX(\s+\d+)?$")
# Plain YAML scalars: text that YAML 1.1/1.2 reads back as the same text (no indicator first, no ": " or " #",
# not a number, a boolean or null); anything else is double-quoted (a JSON string is a YAML double-quoted scalar).
_PLAIN = re.compile(r"[A-Za-z\u00c0-\u024f(][^:#\"\n]*[^\s:]")
_TYPED = re.compile(r"(?i)^(y|n|yes|no|true|false|on|off|null|~|[-+.\d][\d_.:eE+-]*)$")
# The word an operator uses for a category, for the alias it adds (``Centre hospitalier d'Arles``).
_ALIAS_WORD = {
    "355": "Centre hospitalier",
    "106": "Hôpital",
    "101": "CHU",
    "365": "Hôpital",
    "128": "Clinique",
    "129": "Clinique",
    "109": "Clinique",
    "500": "EHPAD",
    "611": "Laboratoire",
    "620": "Pharmacie",
    "124": "Centre de santé",
    "292": "Centre hospitalier spécialisé",
}


def _scalar(text: str) -> str:
    if _PLAIN.fullmatch(text) and not _TYPED.match(text) and " #" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _department(et: str) -> str:
    """FINESS numbers start with the department: two characters (2A, 2B included), three overseas (97x)."""
    return et[:3] if et.startswith("97") else et[:2]


def _commune(ville: str) -> str:
    return _CEDEX.sub("", ville.strip())


def _of(commune: str) -> str:
    """``d'Arles``, ``de Viriat``: the commune as French writes it after the category's word."""
    name = commune.title().replace(" ", "-") if commune else ""
    return ("d'" if name[:1] in "AEIOUYH" else "de ") + name


def rows(source: Path = FINESS_CSV) -> list[dict[str, str]]:
    """Every row of the flat extract, in its order (the extract's FINESS number order)."""
    with gzip.open(source, "rb") as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter=";"))


def _aliases(table: list[dict[str, str]]) -> dict[str, str]:
    """A seeded sprinkle of operator aliases: ``ALIASED`` establishments of the categories above get the
    category's word and their commune ("Centre hospitalier d'Arles"); where several chosen ones share the word and
    the commune, the first two keep that alias (shared: the matcher leaves it out, ``check`` says so) and the
    others add their own name ("Pharmacie Duperat Agussan d'Aulnay")."""
    rnd = random.Random(SEED)
    eligible = [row for row in table if row["categetab"] in _ALIAS_WORD and row["ville"]]
    chosen = rnd.sample(eligible, ALIASED)
    seen: dict[str, int] = defaultdict(int)
    aliases: dict[str, str] = {}
    for row in chosen:
        word, where = _ALIAS_WORD[row["categetab"]], _of(_commune(row["ville"]))
        alias = f"{word} {where}"
        seen[alias] += 1
        if seen[alias] > 2:
            own = row["rs"].title().removeprefix(word.title()).strip()
            alias = f"{word} {own} {where}"
        aliases[row["nofinesset"]] = alias
    return aliases


def establishment_yaml(row: dict[str, str], alias: str | None) -> str:
    """One establishment as the importer writes it, with an operator's alias and contact when given one."""
    et = row["nofinesset"]
    address = " ".join(part for part in (row["address_line_1"], row["address_line_2"]) if part)
    # The flat extract does not carry the long name (rslongue): the importer leaves it out when FINESS has none.
    finess = {
        "et": et,
        "ej": row["nofinessej"],
        "category_label": row["libcategetab"],
        "address": address,
        "department": _department(et),
        "opened": row["dateouv"],
        "updated": row["datemaj"],
    }
    lines = [
        f'  - id: "{et}"',
        f"    name: {_scalar(row['rs'])}",
        f'    category: "{row["categetab"]}"',
        f"    city: {_scalar(_commune(row['ville']))}",
        f'    postcode: "{row["codepostal"]}"',
        "    finess: {" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in finess.items()) + "}",
    ]
    if alias is not None:
        lines.append(f"    aliases: [{_scalar(alias)}]")
        lines.append(f"    contacts: [{{email: rssi@{et}.finess.example}}]")
    return "\n".join(lines) + "\n"


def build_registry(folder: Path) -> list[Path]:
    """Write the full FINESS registry into ``folder`` with ``alertd registry import finess`` over the real 2021
    extract (the FHIR archives beside the flat table), then add the operator's sprinkle of aliases and contacts
    to the imported items; return the files. The one function the benchmarks call to get a national registry."""
    sources = sorted((FINESS_CSV.parent / "fhir_flrt_20210108").glob("etab*.tar.gz"))
    folder.mkdir(parents=True, exist_ok=True)
    alertd = [sys.executable, "-m", "alertd", "registry", "import", "finess", *map(str, sources), "--into", str(folder)]
    started = time.perf_counter()
    subprocess.run(alertd, check=True, capture_output=True, cwd=ROOT)
    IMPORT_SECONDS.append(time.perf_counter() - started)
    aliases = _aliases(rows())
    written = sorted(folder.glob("finess-*.yaml"))
    for path in written:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        out: list[str] = []
        for line in lines:
            out.append(line)
            if line.startswith("  - id: "):
                alias = aliases.get(line.removeprefix("  - id: ").strip().strip('"'))
                if alias is not None:
                    out.append(f"    aliases: [{_scalar(alias)}]\n")
                    out.append(f"    contacts: [{{email: rssi@{line[9:18]}.finess.example}}]\n")
        path.write_text("".join(out), encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> None:
    """Build the registry (into ``--keep`` or a temporary folder) and print what was written."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--keep", type=Path, help="write the registry here and keep it")
    args = ap.parse_args(argv)
    if not FINESS_CSV.exists():
        print(json.dumps({"skipped": f"{FINESS_CSV} not found (the shared data beside the checkout)"}))
        return
    with tempfile.TemporaryDirectory(prefix="alertd-finess-") as tmp:
        folder = args.keep or Path(tmp)
        started = time.perf_counter()
        files = build_registry(folder)
        seconds = round(time.perf_counter() - started, 1)
        size = sum(f.stat().st_size for f in files)
        print(json.dumps({"files": len(files), "bytes": size, "built_in_seconds": seconds, "folder": str(folder)}))


if __name__ == "__main__":
    main()
