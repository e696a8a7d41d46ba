"""``alertd poll --dry-run`` of a large CSV list, through the real command: the list is read in bulk, and what it
prints is what the row path finds (every finding and every set-aside indicator, with its entry); a list over its
``max_bytes`` fails the run (exit 3, the feed named), it is not reported and passed over."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from builders import FEODO_HEADER, feodo_rows
from configs import alertd, copy_example

from alertd.config.files import load_config
from alertd.intake.formats import csvfeed
from alertd.service.setup import prepare

# The example registry's networks, at their edges and just outside them, and the private and test ranges.
EDGES = [
    "84.247.157.0",
    "84.247.157.255",
    "84.247.156.255",
    "84.247.158.0",
    "154.12.224.0",
    "154.12.255.255",
    "154.13.0.0",
    "23.226.138.128",
    "23.226.138.191",
    "23.226.138.192",
    "198.51.100.7",
    "10.0.0.1",
    "192.168.1.1",
]
ODD = ["84.247.157.9:443", "[2001:db8:11::1]:443", "2001:db8:11::5", "84.247.157.0/28", " 84.247.157.3 ", "010.1.1.1"]


def write_list(path: Path, rows: int, seed: int = 16) -> None:
    lines = feodo_rows(seed, rows, [(0.05, EDGES), (0.07, ODD)], range(1, 224), ("443", "8080", "2222"))
    path.write_text("\n".join(["# a generated blocklist", FEODO_HEADER, *lines, f"# END {rows} entries"]))


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "config")


def test_a_large_list_prints_what_the_row_path_finds(example: Path) -> None:
    write_list(example.parent / "feeds" / "feodotracker_ipblocklist_2024-04-04.csv", 20_000)
    # Long enough for its rows to be read as arrays (csvbulk), the rows that are not plain row by row.
    assert (example.parent / "feeds" / "feodotracker_ipblocklist_2024-04-04.csv").stat().st_size >= csvfeed.BULK_BYTES
    result = alertd(example, "poll", "--dry-run", "--feed", "feodo", log_level="error")
    assert result.returncode == 0, result.stderr
    printed = Counter((line["indicator"], line["entry"]) for line in map(json.loads, result.stdout.splitlines()))

    config = load_config(example)
    [feed] = [f for f in config.feeds if f.id == "feodo"]
    body = (example.parent / "feeds" / "feodotracker_ipblocklist_2024-04-04.csv").read_bytes()
    matched = prepare(config).index.match(csvfeed.read(feed.spec, body).observations)
    expected = Counter((f.indicator.value, f.entry) for f in matched.findings)
    expected.update((s.indicator.value, s.entry) for s in matched.suppressed)
    assert printed == expected
    assert len(matched.findings) > 20 and len(matched.suppressed) > 20


def test_a_list_over_its_max_bytes_fails_the_dry_run(example: Path) -> None:
    write_list(example.parent / "feeds" / "feodotracker_ipblocklist_2024-04-04.csv", 2_000)
    feeds = example.parent / "feeds.yaml"
    feeds.write_text(feeds.read_text().replace("    format: csv\n", "    format: csv\n    max_bytes: 4096\n", 1))
    result = alertd(example, "poll", "--dry-run", "--feed", "feodo", log_level="error")
    assert result.returncode == 3
    assert result.stderr.startswith("alertd: feed feodo failed: ") and "more than max_bytes 4096" in result.stderr
    assert not result.stdout
