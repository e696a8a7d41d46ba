"""``backups`` in ``alertd.yaml`` (contract §2): the defaults, the operator's values, and mistakes with positions."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError


@pytest.fixture
def alertd_yaml(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config" / "alertd.yaml"


def with_backups(path: Path, text: str) -> Path:
    path.write_text(path.read_text() + text)
    return path


def test_the_defaults_back_up_every_six_hours_into_state_dir(alertd_yaml: Path) -> None:
    settings = load_config(alertd_yaml).settings
    assert (settings.backups.every, settings.backups.keep) == (timedelta(hours=6), 7)
    assert settings.backup_folder == settings.state_dir / "backups"


def test_the_operator_chooses_how_often_how_many_and_where(alertd_yaml: Path) -> None:
    settings = load_config(with_backups(alertd_yaml, "backups: {every: 1d, keep: 3, folder: ../saved}\n")).settings
    assert (settings.backups.every, settings.backups.keep) == (timedelta(days=1), 3)
    assert settings.backup_folder == alertd_yaml.parent.parent / "saved"


def test_never_stops_the_backups(alertd_yaml: Path) -> None:
    assert load_config(with_backups(alertd_yaml, "backups: {every: never}\n")).settings.backups.every is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("backups: {every: 10m}\n", "backups every '10m' is too often; give 1h or more, or 'never'"),
        ("backups: {keep: 0}\n", "keep 0 backups? give 1 to 1000"),
        ("backups: {evry: 1h}\n", "evry"),
    ],
)
def test_mistakes_are_told_at_their_place(alertd_yaml: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(with_backups(alertd_yaml, text))
    assert any(said in str(p) and p.file == str(alertd_yaml) for p in refused.value.problems), refused.value
