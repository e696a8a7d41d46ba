"""The commands keep the exit codes the README promises (contract §5), through the real ``alertd`` command: a feed
that failed in a dry run is exit 3, an unknown subscription or establishment is a usage error (2) naming it and the
nearest known one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from configs import alertd, copy_example


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "config")


def maildir(config: Path) -> list[Path]:
    new = config.parent.parent / "var" / "maildir" / "new"
    return sorted(new.iterdir()) if new.exists() else []


def test_a_dry_run_with_a_failed_feed_exits_3_and_says_which(example: Path) -> None:
    feeds = example.parent / "feeds.yaml"
    feeds.write_text(feeds.read_text().replace("    format: cisa-kev\n", "    format: cisa-kev\n    max_bytes: 2048\n"))
    result = alertd(example, "poll", "--dry-run", log_level="error")
    assert result.returncode == 3, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("alertd: ")]
    assert len(failed) == 1 and failed[0].startswith("alertd: feed cisa-kev failed: ")
    assert "more than max_bytes 2048" in failed[0]
    # The other feeds were read all the same: their findings are printed
    feeds_seen = {json.loads(line)["feed"] for line in result.stdout.splitlines()}
    assert "feodo" in feeds_seen and "cisa-kev" not in feeds_seen


def test_a_dry_run_of_healthy_feeds_exits_0(example: Path) -> None:
    result = alertd(example, "poll", "--dry-run", "--feed", "feodo", log_level="error")
    assert result.returncode == 0 and result.stdout and not result.stderr


def test_an_unknown_feed_names_the_nearest(example: Path) -> None:
    result = alertd(example, "poll", "--dry-run", "--feed", "cisa_kev", log_level="error")
    assert result.returncode == 2
    assert result.stderr.strip() == "alertd: unknown feed(s): cisa_kev (did you mean 'cisa-kev'?)"


def test_digest_of_an_unknown_subscription_is_a_usage_error(example: Path) -> None:
    result = alertd(example, "digest", "--now", "--subscription", "hospital-daily", log_level="error")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "alertd: no subscription named 'hospital-daily' (did you mean 'hospitals-daily'?); "
        "digest subscriptions: hospitals-daily"
    )
    # Nothing was sent, not even the known digest asked for with it
    both = alertd(example, "digest", "--now", "--subscription", "hospitals-daily", "--subscription", "x")
    assert both.returncode == 2 and "no subscription named 'x'" in both.stderr and not maildir(example)


def test_digest_of_an_immediate_subscription_is_a_usage_error(example: Path) -> None:
    result = alertd(example, "digest", "--now", "--subscription", "imminent-everyone", log_level="error")
    assert result.returncode == 2
    assert "subscription 'imminent-everyone' is delivered immediately, not in a digest" in result.stderr


def test_history_of_an_unknown_establishment_is_a_usage_error(example: Path) -> None:
    result = alertd(example, "history", "--establishment", "00000011", log_level="error")
    assert result.returncode == 2
    assert result.stderr.strip() == "alertd: no establishment has id '00000011' (did you mean '000000011'?)"
    # A known establishment that was never warned: nothing to show, and that is no error
    known = alertd(example, "history", "--establishment", "000000011", log_level="error")
    assert known.returncode == 0 and known.stdout == "" and known.stderr == ""


def test_history_of_an_establishment_gone_from_the_registry_is_still_shown(example: Path) -> None:
    assert alertd(example, "run", "--once", log_level="error").returncode == 0
    told = alertd(example, "history", "--establishment", "000000022", "--json", log_level="error")
    assert told.returncode == 0 and told.stdout
    registry = example.parent / "establishments" / "example.yaml"
    text = registry.read_text()
    start = text.index('  - id: "000000022"')
    end = text.index("  - id:", start + 1)
    registry.write_text(text[:start] + text[end:])
    gone = alertd(example, "history", "--establishment", "000000022", "--json", log_level="error")
    assert gone.returncode == 0 and gone.stdout == told.stdout
