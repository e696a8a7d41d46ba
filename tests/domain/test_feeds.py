"""Feeds' codes: the formats and column roles config reads from ``feeds.yaml`` and intake compares."""

from __future__ import annotations

from alertd.domain.feeds import INDICATOR_ROLES, ColumnRole, FeedFormat


def test_formats_keep_the_spellings_of_feeds_yaml() -> None:
    assert [str(f) for f in FeedFormat] == [
        "rss",
        "cisa-kev",
        "csv",
        "nvd-json",
        "csaf",
        "misp",
        "stix",
        "leak-victims",
        "epss-csv",
        "press-reports",
        "taxii",
    ]


def test_a_columns_key_is_a_role_or_a_facts_name() -> None:
    assert ColumnRole.of("ip") is ColumnRole.IP
    assert ColumnRole.of("first_seen") is ColumnRole.FIRST_SEEN
    status = ColumnRole.of("status")
    assert status == "status" and not isinstance(status, ColumnRole)
    assert not isinstance(ColumnRole.of("IP"), ColumnRole)  # keys are compared as written, as before


def test_indicator_roles_in_the_order_a_rows_indicators_are_listed() -> None:
    assert tuple(ColumnRole)[: len(INDICATOR_ROLES)] == INDICATOR_ROLES
    assert [str(r) for r in INDICATOR_ROLES] == ["ip", "cidr", "domain", "host", "url", "email", "asn", "hash"]
    assert ColumnRole.FIRST_SEEN not in INDICATOR_ROLES
