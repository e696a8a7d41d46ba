"""The bounds of ``alertd.yaml`` (issue #13 point 2): ``retention`` and ``delivery.max_message_bytes``."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.settings import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RETENTION


def _config(tmp_path: Path, top: str = "", delivery: str = "") -> Path:
    """The example configuration with ``top`` lines added and ``delivery`` lines under its ``delivery``."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    alertd = tmp_path / "config" / "alertd.yaml"
    text = alertd.read_text().replace("delivery:\n", "delivery:\n" + delivery, 1)
    alertd.write_text(text + top)
    return alertd


def test_the_defaults_are_90_days_and_10_mb(tmp_path: Path) -> None:
    settings = load_config(_config(tmp_path)).settings
    assert settings.retention == DEFAULT_RETENTION == timedelta(days=90)
    assert settings.max_message_bytes == settings.render.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 10_000_000


@pytest.mark.parametrize(
    ("written", "read"), [("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), ("never", None)]
)
def test_retention_is_a_duration_or_never(tmp_path: Path, written: str, read: timedelta | None) -> None:
    assert load_config(_config(tmp_path, f"retention: {written}\n")).settings.retention == read


def test_max_message_bytes_is_read_under_delivery(tmp_path: Path) -> None:
    settings = load_config(_config(tmp_path, delivery="  max_message_bytes: 5000000\n")).settings
    assert settings.render.max_message_bytes == 5_000_000


@pytest.mark.parametrize(
    ("top", "delivery", "said"),
    [
        ("retention: 1h\n", "", "shorter than a day"),
        ("retention: soon\n", "", "or 'never'"),
        ("", "  max_message_bytes: 1000\n", "too small for any warning"),
    ],
)
def test_bounds_out_of_reason_are_refused(tmp_path: Path, top: str, delivery: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, top, delivery))
    assert said in str(raised.value) or any(said in str(p) for p in raised.value.problems)
