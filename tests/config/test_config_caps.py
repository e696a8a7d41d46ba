"""``max_field_bytes`` and ``max_entry_bytes`` of a feed (issue #13): read into the feed's spec, checked with a
``file:line:col`` error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.feeds import DEFAULT_MAX_ENTRY_BYTES, DEFAULT_MAX_FIELD_BYTES
from alertd.intake.extract import MAX_ENTRY_TEXT, MAX_TEXT

FEED = "  - id: x\n    url: https://example.org/feed\n    format: rss\n    interval: 1h\n"


def feeds(cfg: Path, extra: str) -> Path:
    """The example's feeds.yaml with feed ``x`` added last, its lines ``extra`` ending it (from line 40 on)."""
    example = (ROOT / "config" / "feeds.yaml").read_text()
    assert example.count("\n") == 35
    (cfg / "feeds.yaml").write_text(example + FEED + extra)
    return cfg / "alertd.yaml"


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_defaults_are_the_extraction_bounds(cfg: Path) -> None:
    spec = load_config(feeds(cfg, "")).feed("x").spec
    assert (spec.max_field_bytes, spec.max_entry_bytes) == (DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_ENTRY_BYTES)
    assert (MAX_TEXT, MAX_ENTRY_TEXT) == (64 * 1024, 256 * 1024)  # the defaults did not move


def test_caps_reach_the_parser_spec(cfg: Path) -> None:
    spec = load_config(feeds(cfg, "    max_field_bytes: 2048\n    max_entry_bytes: 8192\n")).feed("x").spec
    assert (spec.max_field_bytes, spec.max_entry_bytes) == (2048, 8192)


def test_one_cap_written_moves_the_other_only_where_they_would_contradict(cfg: Path) -> None:
    assert load_config(feeds(cfg, "    max_field_bytes: 1048576\n")).feed("x").max_entry_bytes == 1048576
    assert load_config(feeds(cfg, "    max_entry_bytes: 4096\n")).feed("x").max_field_bytes == 4096
    assert load_config(feeds(cfg, "    max_field_bytes: 4096\n")).feed("x").max_entry_bytes == DEFAULT_MAX_ENTRY_BYTES


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ("    max_field_bytes: 10\n", "40:22", "'max_field_bytes' is 10; it must be between 1024 and 16777216"),
        ("    max_entry_bytes: 99999999999\n", "40:22", "'max_entry_bytes' is 99999999999; it must be between"),
        ("    max_field_bytes: 64k\n", "40:22", "'max_field_bytes' must be"),
        ("    max_field_bytes: true\n", "40:22", "'max_field_bytes' must be"),
        (
            "    max_field_bytes: 8192\n    max_entry_bytes: 4096\n",
            "41:22",
            "'max_entry_bytes' (4096) is less than 'max_field_bytes' (8192)",
        ),
    ],
)
def test_a_bad_cap_is_a_config_error_naming_its_line(cfg: Path, extra: str, where: str, message: str) -> None:
    found = problems(feeds(cfg, extra))
    assert len(found) == 1, found
    assert found[0].startswith(f"{cfg / 'feeds.yaml'}:{where}: {message}"), found
