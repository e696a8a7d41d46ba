"""The store keeps an alert's codes, and reads the English rule sentences of alerts an earlier version queued."""

from __future__ import annotations

import json
from pathlib import Path

from builders import IPV4, make_alert

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.store.sqlite import Store


def test_an_alert_keeps_its_rule_code_and_reason(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    try:
        alert = make_alert(IPV4, rule=SeverityRule.cvss_at_least_7(9.85), reason=MatchReason.NETWORK_OVERLAP)
        store.save_findings([alert.finding], [alert], alert.last_seen)
        [queued] = store.queued_alerts(immediate=True)[alert.finding.establishment]
        assert queued.alert == alert
        assert queued.alert.finding.reason is MatchReason.NETWORK_OVERLAP
    finally:
        store.close()


def test_an_alert_an_earlier_version_queued_reads_with_its_rule_as_a_code(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    try:
        alert = make_alert(IPV4, rule=SeverityRule.feed_severity("feodo"))
        store.save_findings([alert.finding], [alert], alert.last_seen)
        for sentence, rule in [
            ("feed feodo severity", SeverityRule.feed_severity("feodo")),
            ("CVSS 9.8 >= 7", SeverityRule.cvss_at_least_7(9.8)),
            ("known exploited vulnerability (KEV)", SeverityRule.of(RuleKind.KEV)),
            ("a rule we never had", SeverityRule.unknown("a rule we never had")),
        ]:
            with store.transaction() as db:
                [body] = db.execute("SELECT body FROM alerts").fetchone()
                old = {**json.loads(body), "rule": sentence}  # how versions before codes wrote it
                db.execute("UPDATE alerts SET body = ?", (json.dumps(old),))
            [queued] = store.queued_alerts(immediate=True)[alert.finding.establishment]
            assert queued.alert.rule == rule
    finally:
        store.close()
