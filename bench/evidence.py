"""Figures for issue #11: how the vulnerability warnings of real public documents are judged (affected, unverified,
not affected), and on what basis.

Runs the documents of ``tests/data`` (NVD's 2024-06-21 "recent" file, Cisco's, Siemens', Red Hat's and BSI's CSAF
advisories, then the KEV catalogue 2026.08.07) through the matcher against the registry of
``tests/service/evidence_cases.py``, in the order a poll of catalogues then KEV takes: each document's entries
saved in a real SQLite store, then matched with the knowledge the store then holds, as ``Poller`` does. Counts the
cases tried (establishment × CVE × registry item) per evidence level and per basis, per source document; then the
same KEV catalogue alone (an empty store, no other source) for comparison. Prints text; asserts nothing; a few
seconds.

    .venv/bin/python bench/evidence.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for where in (ROOT, ROOT / "tests", ROOT / "tests" / "service"):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from evidence_cases import CATALOGUES, KEV, QUESTIONED, REGISTRY, Document  # noqa: E402
from paths import DATA  # noqa: E402

from alertd.config.registry import load_registry  # noqa: E402
from alertd.domain.feeds import FeedFormat, FeedSpec  # noqa: E402
from alertd.domain.values import Finding, IndicatorType, Observation  # noqa: E402
from alertd.intake.formats import FORMATS  # noqa: E402
from alertd.match.index import MatchIndex  # noqa: E402
from alertd.store.sqlite import Store  # noqa: E402

NOW = datetime(2026, 8, 10, 8, 0, tzinfo=UTC)
LEVELS = ("affected", "unverified", "not-affected")


def parse(doc: Document) -> list[Observation]:
    """The document's entries, as its feed's parser reads them."""
    fmt = FeedFormat(doc.format)
    return FORMATS[fmt].parse(FeedSpec(doc.feed, fmt, FORMATS[fmt].kind), (DATA / doc.path).read_bytes())


Case = tuple[str, str, str, str]  # (evidence, basis, feed, establishment)


def cases(findings: Iterable[Finding]) -> list[Case]:
    """(evidence, basis, feed, establishment) of each software finding: one case per establishment × CVE × item."""
    out = []
    for f in findings:
        version = f.facts.version
        if version is not None and version.basis is not None:
            out.append((version.evidence.value, version.basis.value, f.feed, f.establishment))
    return out


def poll_in_order(index: MatchIndex, documents: Sequence[Document], store: Store) -> list[Case]:
    """Each document saved then matched with the store's knowledge, in order, as a poll of each would."""
    tried: list[Case] = []
    for doc in documents:
        observations = parse(doc)
        store.save_observations(doc.feed, observations, NOW)
        cves = {i.value for o in observations for i in o.indicators if i.type is IndicatorType.CVE}
        result = index.match(observations, store.knowledge(cves))
        tried += cases([*result.findings, *result.not_affected])
    return tried


def table(title: str, tried: list[Case]) -> list[str]:
    """The figures of one run, as lines."""
    lines = [title, f"  cases tried: {len(tried)}"]
    levels = Counter(level for level, _, _, _ in tried)
    lines.append("  " + ", ".join(f"{level}: {levels[level]}" for level in LEVELS))
    bases = Counter((level, basis) for level, basis, _, _ in tried)
    lines.append("  by basis: " + ", ".join(f"{b} {n}" for (_, b), n in sorted(bases.items())))
    doubtful = Counter(level for level, _, _, est in tried if est in QUESTIONED)
    if doubtful:
        lines.append(
            "  of which the cases once judged wrong (Android by NVD's android:-, RHEL 8 by a RHEL 9 fix): "
            + ", ".join(f"{level} {n}" for level, n in sorted(doubtful.items()))
        )
    for feed in dict.fromkeys(feed for _, _, feed, _ in tried):
        mine = [(level, basis) for level, basis, f, _ in tried if f == feed]
        per = Counter(level for level, _ in mine)
        per_basis = Counter(basis for _, basis in mine)
        lines.append(
            f"  {feed:<13} {len(mine):>4} cases: "
            + ", ".join(f"{level} {per[level]}" for level in LEVELS)
            + "  ("
            + ", ".join(f"{b} {n}" for b, n in sorted(per_basis.items()))
            + ")"
        )
    return lines


def summary(tried: list[Case]) -> dict[str, object]:
    """The figures of one run, as JSON."""
    return {
        "cases": len(tried),
        "levels": dict(Counter(level for level, _, _, _ in tried)),
        "bases": dict(Counter(basis for _, basis, _, _ in tried)),
        "questioned": dict(Counter(level for level, _, _, est in tried if est in QUESTIONED)),
        "per_feed": {
            feed: dict(Counter(level for level, _, f, _ in tried if f == feed))
            for feed in dict.fromkeys(f for _, _, f, _ in tried)
        },
    }


def main() -> None:
    """Run both orders and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        registry_file = Path(tmp) / "establishments.yaml"
        registry_file.write_text(REGISTRY)
        registry = load_registry(registry_file)
        index = MatchIndex(registry, benign=None)
        items = sum(len(e.software) for e in registry.establishments.values())
        with_knowledge = Store(Path(tmp) / "ordered.sqlite3")
        ordered = poll_in_order(index, [*CATALOGUES, KEV], with_knowledge)
        with_knowledge.close()
        alone_store = Store(Path(tmp) / "kev-alone.sqlite3")
        alone = poll_in_order(index, [KEV], alone_store)
        alone_store.close()
    elapsed = time.perf_counter() - started
    if args.json:
        out = {"establishments": len(registry.establishments), "items": items, "seconds": round(elapsed, 2)}
        print(json.dumps({**out, "catalogues_then_kev": summary(ordered), "kev_alone": summary(alone)}, indent=2))
        return
    print(f"registry: {len(registry.establishments)} establishments, {items} software items")
    print("\n".join(table("catalogues (NVD, Cisco, Siemens, Red Hat, BSI) then KEV:", ordered)))
    kev_ordered = [c for c in ordered if c[2] == KEV.feed]
    print("\n".join(table("KEV, with the catalogues known:", kev_ordered)))
    print("\n".join(table("KEV alone (no other source):", alone)))
    print(f"({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
