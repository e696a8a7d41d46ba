"""Config loading: every mistake named as file:line:col, the example config valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.common import parse_duration
from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.feeds import ColumnRole, FeedFormat
from alertd.domain.values import FeedKind, Severity

EXAMPLE = ROOT / "config"


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE / "alertd.yaml")
    assert [f.id for f in config.feeds] == ["feodo", "cisa-kev", "cisco-csaf", "certfr-alertes"]
    assert config.feed("feodo").kind is FeedKind.COMPROMISE
    assert config.feed("cisa-kev").kind is FeedKind.VULNERABILITY  # the format's default
    assert config.feed("certfr-alertes").severity is Severity.HIGH
    assert config.feed("feodo").url.startswith("file:///") and config.feed("feodo").url.endswith(".csv")
    assert len(config.registry.establishments) == 4
    chu = config.registry.establishments["000000011"]
    assert chu.software[1].vendor == "fortinet" and chu.software[1].version == "7.2.4"
    assert config.settings.renotify[Severity.INFO] is None
    assert config.subscriptions[2].digest == "0 8 * * *"
    assert config.subscriptions[2].business_days == frozenset({1, 2, 3, 4, 5})
    assert len(config.inhibitions) == 1 and config.inhibitions[0].indicator == "23.226.138.161"


def test_broken_yaml_names_file_line_col(cfg: Path) -> None:
    (cfg / "subscriptions.yaml").write_text("subscriptions:\n  - name: x\n    establishments: [all\n")
    found = problems(cfg / "alertd.yaml")
    assert len(found) == 1
    # At the cause (the '[' never closed), not where the parser gave up (4:1)
    assert found[0].startswith(f"{cfg / 'subscriptions.yaml'}:3:21: invalid YAML: the '[' opened here is not closed")


def test_unknown_key_and_wrong_type(cfg: Path) -> None:
    text = (cfg / "alertd.yaml").read_text()
    (cfg / "alertd.yaml").write_text(text.replace("timezone: Europe/Paris", "timezone: Europe/Paris\ncolour: blue"))
    feeds = (cfg / "feeds.yaml").read_text().replace("interval: 30m", "interval: 30 minutes")
    (cfg / "feeds.yaml").write_text(feeds)
    found = problems(cfg / "alertd.yaml")
    assert f"{cfg / 'alertd.yaml'}:4:1: unknown key 'colour' in the settings" in found[0]
    assert any(p.startswith(f"{cfg / 'feeds.yaml'}:9:15: '30 minutes' is not a duration") for p in found), found


def test_registry_errors_bad_cidr_duplicate_id(cfg: Path) -> None:
    (cfg / "establishments" / "more.yaml").write_text(
        'establishments:\n  - id: "000000011"\n    name: Copy\n  - id: "9"\n    name: Bad net\n'
        "    networks: [10.0.0.1/8]\n"
    )
    found = problems(cfg / "alertd.yaml")
    more = cfg / "establishments" / "more.yaml"
    assert any(p.startswith(f"{more}:2:9: duplicate establishment id '000000011' (first at ") for p in found), found
    assert any(p.startswith(f"{more}:6:16: bad network '10.0.0.1/8'") and "10.0.0.0/8" in p for p in found), found


def test_unknown_format_lists_allowed(cfg: Path) -> None:
    (cfg / "feeds.yaml").write_text(
        "feeds:\n  - id: x\n    url: https://example.org/feed\n    format: atom-ish\n    interval: 1h\n"
    )
    found = problems(cfg / "alertd.yaml")
    allowed = "rss, cisa-kev, csv, nvd-json, csaf, misp, stix, leak-victims"
    assert found[0].startswith(f"{cfg / 'feeds.yaml'}:4:13: 'format' is 'atom-ish'; allowed: {allowed}")


def test_formats_and_column_roles_are_read_as_codes() -> None:
    feodo = load_config(EXAMPLE / "alertd.yaml").feed("feodo")
    assert feodo.format is FeedFormat.CSV
    assert feodo.spec.format is FeedFormat.CSV
    roles = list(feodo.columns)
    assert roles == ["ip", "port", "first_seen", "malware", "status", "last_seen"]  # the YAML's keys, in its order
    assert roles[0] is ColumnRole.IP and roles[2] is ColumnRole.FIRST_SEEN
    assert not isinstance(roles[1], ColumnRole) and not isinstance(roles[4], ColumnRole)  # facts' names


def test_csv_feed_without_an_indicator_column(cfg: Path) -> None:
    (cfg / "feeds.yaml").write_text(
        "feeds:\n  - id: x\n    url: https://example.org/x.csv\n    format: csv\n    interval: 1h\n"
        "    columns: {malware: malware, threat: tag}\n"
    )
    found = problems(cfg / "alertd.yaml")
    roles = "ip, cidr, domain, host, url, email, asn, hash"
    assert found[0] == f"{cfg / 'feeds.yaml'}:2:5: a csv feed needs 'columns' naming at least one of: {roles}"


def test_duplicate_yaml_key(cfg: Path) -> None:
    (cfg / "subscriptions.yaml").write_text(
        "subscriptions:\n  - name: a\n    name: b\n    establishments: all\n    min_severity: high\n"
    )
    assert problems(cfg / "alertd.yaml")[0].startswith(f"{cfg / 'subscriptions.yaml'}:3:5: duplicate key 'name'")


def test_subscription_refers_to_unknown_feed_and_id(cfg: Path) -> None:
    (cfg / "subscriptions.yaml").write_text(
        "subscriptions:\n  - name: a\n    establishments: {ids: [nope]}\n    min_severity: high\n"
        "    feeds: [ghost]\n    delivery: {digest: '61 8 * * *'}\n"
    )
    found = problems(cfg / "alertd.yaml")
    sub = cfg / "subscriptions.yaml"
    assert any(p.startswith(f"{sub}:3:28: no establishment has id 'nope'") for p in found), found
    assert any(p.startswith(f"{sub}:5:13: unknown feed 'ghost'") for p in found), found
    assert any(p.startswith(f"{sub}:6:24: invalid cron expression") for p in found), found


def test_smtp_without_tls_only_to_loopback(cfg: Path) -> None:
    text = (
        (cfg / "alertd.yaml")
        .read_text()
        .replace("  maildir: ../var/maildir", "  smtp: {host: mail.example.org, security: none}")
    )
    (cfg / "alertd.yaml").write_text(text)
    found = problems(cfg / "alertd.yaml")
    assert "security 'none' sends mail in clear text and is allowed only to 127.0.0.0/8 or ::1" in found[0]


def test_smtp_pool_size_is_read_and_bounded(cfg: Path) -> None:
    text = (cfg / "alertd.yaml").read_text().replace("method: maildir", "method: smtp")
    smtp = "  smtp: {host: 127.0.0.1, security: none, pool_size: %s}"
    (cfg / "alertd.yaml").write_text(text.replace("  maildir: ../var/maildir", smtp % 8))
    settings = load_config(cfg / "alertd.yaml").settings
    assert settings.smtp is not None and settings.smtp.pool_size == 8
    (cfg / "alertd.yaml").write_text(text.replace("  maildir: ../var/maildir", smtp % 0))
    found = problems(cfg / "alertd.yaml")
    assert any("'pool_size' must be between 1 and 32 connections" in p for p in found), found


def test_durations() -> None:
    assert parse_duration("30s").total_seconds() == 30
    assert parse_duration("15m").total_seconds() == 900
    assert parse_duration("1d").total_seconds() == 86400
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_check_command(cfg: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "alertd", "-c", str(cfg / "alertd.yaml"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid — 4 feeds, 4 establishments" in ok.stdout
    (cfg / "feeds.yaml").write_text("feeds:\n  - id: x\n    url: gopher://x\n    format: csv\n    interval: 1h\n")
    bad = subprocess.run(
        [sys.executable, "-m", "alertd", "-c", str(cfg / "alertd.yaml"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert lines[0].startswith(f"{cfg / 'feeds.yaml'}:3:10: url 'gopher://x' must start with https://")
    assert all(line.startswith(str(cfg)) for line in lines)


def test_allowlist_and_unsafe_names(cfg: Path) -> None:
    settings = cfg / "alertd.yaml"
    settings.write_text(settings.read_text() + "allowlist: allowlist.yaml\n")
    (cfg / "allowlist.yaml").write_text(
        "allowlist:\n  - {value: 84.247.157.112, reason: our own scanner}\n  - {value: 10.0.0.0/33, reason: x}\n"
    )
    found = problems(settings)
    assert len(found) == 1 and found[0].startswith(f"{cfg / 'allowlist.yaml'}:3:13: bad network")
    (cfg / "allowlist.yaml").write_text("allowlist:\n  - {value: 84.247.157.112, reason: our own scanner}\n")
    registry = cfg / "establishments" / "example.yaml"
    registry.write_text(registry.read_text().replace("aliases: [CH du Val de Lys]", "aliases: [CH du Val de Lys, CHU]"))
    config = load_config(settings)
    assert config.allowlist == (("84.247.157.112", "our own scanner"),)
    warnings = [str(w) for w in config.warnings]
    assert len(warnings) == 1 and warnings[0].startswith(f"{registry}:")
    assert "warning: establishment '000000044'" in warnings[0] and "'CHU'" in warnings[0]
