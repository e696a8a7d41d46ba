"""The analyst's and operator's commands on the example configuration: preview, digest --now, history,
inhibitions in a dry run, and check's warnings — through the real ``alertd`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from configs import alertd, copy_example


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "config")


def maildir_count(config: Path) -> int:
    new = config.parent.parent / "var" / "maildir" / "new"
    return len(list(new.iterdir())) if new.exists() else 0


def test_preview_digest_and_history(example: Path) -> None:
    assert alertd(example, "run", "--once").returncode == 0
    assert maildir_count(example) == 3  # CH du Val de Lys: only unverified KEV warnings, for its digest
    # The CERT-FR advisories (severity high) wait for the hospitals' daily digest.
    preview = alertd(example, "preview", "--establishment", "000000011")
    assert preview.returncode == 0, preview.stderr
    assert "To: rssi@chu-garonne.example" in preview.stdout
    assert "CERTFR-2024-ALE-004" in preview.stdout or "FortiOS" in preview.stdout
    html = alertd(example, "preview", "--establishment", "000000011", "--format", "html")
    assert html.stdout.lstrip().lower().startswith(("<!doctype html", "<html"))
    eml = alertd(example, "preview", "--establishment", "000000011", "--format", "eml")
    assert "Auto-Submitted: auto-generated" in eml.stdout
    # A preview sends nothing.
    assert maildir_count(example) == 3

    digest = alertd(example, "digest", "--now", "--subscription", "hospitals-daily")
    assert digest.returncode == 0, digest.stderr
    sent = maildir_count(example) - 3
    assert sent >= 1 and f"{sent} emails" in digest.stdout
    assert "no pending alert" in alertd(example, "preview", "--establishment", "000000011").stdout
    # An empty digest sends nothing.
    again = alertd(example, "digest", "--now")
    assert again.returncode == 0 and "0 emails" in again.stdout and maildir_count(example) == 3 + sent

    rows = [
        json.loads(line)
        for line in alertd(example, "history", "--establishment", "000000011", "--json").stdout.splitlines()
    ]
    assert rows and all(r["establishment"] == "000000011" for r in rows)
    subs = {r["subscription"] for r in rows}
    assert {"imminent-everyone", "exploited-vulnerabilities", "hospitals-daily"} <= subs
    assert all(r["state"] == "sent" and r["message_id"].startswith("<alertd.000000011.") for r in rows)
    text = alertd(example, "history").stdout
    assert "000000022" in text and "000000011" in text


def test_dry_run_shows_what_an_inhibition_held_back(example: Path) -> None:
    result = alertd(example, "poll", "--dry-run", "--feed", "feodo")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    held = [r for r in records if str(r.get("suppressed", "")).startswith("inhibition:")]
    assert [(r["establishment"], r["indicator"]) for r in held] == [("000000033", "23.226.138.161")]
    assert "Sinkhole run by the establishment's SOC" in held[0]["suppressed"]
    assert held[0]["inhibition"].endswith("inhibitions.yaml:5:5")
    alerted = {(r["establishment"], r["indicator"]) for r in records if "suppressed" not in r}
    assert ("000000033", "23.226.138.143") in alerted and ("000000033", "23.226.138.161") not in alerted


def test_check_warns_of_expired_inhibitions(example: Path) -> None:
    path = example.parent / "inhibitions.yaml"
    path.write_text(path.read_text() + "  - {indicator: 203.0.113.0/24, reason: old test, expires: 2020-01-01}\n")
    result = alertd(example, "check")
    assert result.returncode == 0
    assert f"{path}:9:5: warning: inhibition expired on 2020-01-01" in result.stderr


def test_allowlisted_indicator_is_set_aside_with_its_reason(example: Path) -> None:
    example.write_text(example.read_text() + "allowlist: allowlist.yaml\n")
    (example.parent / "allowlist.yaml").write_text(
        "allowlist:\n  - {value: 84.247.157.112, reason: the CHU's own honeypot}\n"
    )
    records = [json.loads(line) for line in alertd(example, "poll", "--dry-run", "--feed", "feodo").stdout.splitlines()]
    mine = [r for r in records if r["indicator"] == "84.247.157.112"]
    assert mine == [{**mine[0], "suppressed": "allowlist: the CHU's own honeypot"}] and "establishment" not in mine[0]
