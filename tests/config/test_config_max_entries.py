"""``max_entries`` of a feed (issue #13: findings per poll bounded): read into the feed's spec, by default the
format's, checked with a ``file:line:col`` error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config_caps import feeds, problems

from alertd.config.files import load_config
from alertd.domain.feeds import DEFAULT_MAX_ENTRIES

EPSS = "  - id: scores\n    url: https://example.org/epss.csv.gz\n    format: epss-csv\n    interval: 1d\n"


def test_the_default_is_the_formats(cfg: Path) -> None:
    config = load_config(feeds(cfg, EPSS))
    assert config.feed("x").spec.max_entries == DEFAULT_MAX_ENTRIES == 200_000
    assert config.feed("scores").max_entries == 1_000_000  # one small entry per CVE: about 300,000 today


def test_a_written_cap_reaches_the_parser(cfg: Path) -> None:
    assert load_config(feeds(cfg, "    max_entries: 5000\n")).feed("x").spec.max_entries == 5000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    max_entries: 0\n", "'max_entries' is 0; it must be between 1 and 5000000"),
        ("    max_entries: 99999999\n", "'max_entries' is 99999999; it must be between 1 and 5000000"),
        ("    max_entries: 10k\n", "'max_entries' must be"),
        ("    max_entries: true\n", "'max_entries' must be"),
    ],
)
def test_a_bad_max_entries_is_a_config_error_naming_its_line(cfg: Path, extra: str, message: str) -> None:
    found = problems(feeds(cfg, extra))
    assert len(found) == 1, found
    assert found[0].startswith(f"{cfg / 'feeds.yaml'}:40:18: {message}"), found
