"""``escalation`` in ``alertd.yaml`` (contract §2): the defaults (imminent after 4 hours, every hour counted), the
operator's delays and business time, mistakes at their place."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest
from configs import copy_example

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.values import Severity


@pytest.fixture
def alertd_yaml(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "config")


def adding(path: Path, text: str) -> Path:
    path.write_text(path.read_text() + text)
    return path


def test_by_default_an_imminent_warning_is_escalated_after_four_hours(alertd_yaml: Path) -> None:
    rules = load_config(alertd_yaml).settings.escalation
    assert dict(rules.delays) == {Severity.IMMINENT: timedelta(hours=4)}
    assert (rules.business_hours, rules.business_days, rules.holidays) == (None, None, frozenset())


def test_the_operator_chooses(alertd_yaml: Path) -> None:
    text = (
        "escalation:\n"
        "  delays: {imminent: 2h, critical: 1d, info: never}\n"
        "  business_hours: '08:30-18:00'\n"
        "  business_days: mon-fri\n"
        "  holidays: [2026-12-25]\n"
    )
    rules = load_config(adding(alertd_yaml, text)).settings.escalation
    assert dict(rules.delays) == {Severity.IMMINENT: timedelta(hours=2), Severity.CRITICAL: timedelta(days=1)}
    assert rules.business_hours == (time(8, 30), time(18))
    assert rules.business_days == frozenset({1, 2, 3, 4, 5})
    assert rules.holidays == frozenset({date(2026, 12, 25)})


def test_never_turns_the_default_off(alertd_yaml: Path) -> None:
    rules = load_config(adding(alertd_yaml, "escalation: {delays: {imminent: never}}\n")).settings.escalation
    assert dict(rules.delays) == {}


@pytest.mark.parametrize(
    ("text", "said", "line"),
    [
        ("escalation:\n  delays: {imminent: soon}\n", "'soon' is not a duration", 1),
        ("escalation:\n  delays: {imminent: 0h}\n", "positive duration", 1),
        ("escalation:\n  delays: {urgent: 1h}\n", "urgent", 1),
        ("escalation:\n  business_hours: '18:00-08:00'\n", "a later one", 1),
        ("escalation:\n  business_hours: 'office'\n", "business_hours 'office'", 1),
        ("escalation:\n  business_days: mon-someday\n", "business_days", 1),
        ("escalation:\n  holidays: [christmas]\n", "a holiday is a date", 1),
        ("escalation:\n  after: 4h\n", "after", 1),
    ],
)
def test_mistakes_are_told_at_their_place(alertd_yaml: Path, text: str, said: str, line: int) -> None:
    first = len(alertd_yaml.read_text().splitlines()) + 1
    with pytest.raises(ConfigError) as refused:
        load_config(adding(alertd_yaml, text))
    found = [p for p in refused.value.problems if said in str(p) and p.file == str(alertd_yaml)]
    assert found, refused.value
    assert found[0].line == first + line, found[0]
