"""Polling's pure part: inhibitions split a match result into a new one, leaving the given one as it was."""

from __future__ import annotations

from datetime import date, timedelta

from builders import DOMAIN, IPV4, IPV6, make_alert

from alertd.domain.routing import Inhibition
from alertd.match.index import MatchResult, Suppressed
from alertd.policy.inhibitions import apply_inhibitions

TODAY = date(2025, 3, 12)


def test_inhibitions_give_a_new_result_and_leave_the_match_alone() -> None:
    findings = [make_alert(i).finding for i in (IPV4, IPV6, DOMAIN)]
    allowlisted = Suppressed("feodo", "feodo:1.1.1.1", IPV4, "allowlist")
    matched = MatchResult(list(findings), [allowlisted])
    rule = Inhibition("known pentest", TODAY + timedelta(days=1), indicator="147.210.0.0/16")
    expired = Inhibition("old pentest", TODAY - timedelta(days=1), indicator="vpn.chu-bordeaux.example")

    kept, held = apply_inhibitions(matched, [expired, rule], TODAY)

    assert kept.findings == findings[1:]
    assert held == [(findings[0], rule)]
    assert kept.suppressed == [allowlisted]
    assert matched.findings == findings  # what the matcher returned is not edited
    assert kept is not matched


def test_no_inhibition_keeps_everything() -> None:
    matched = MatchResult([make_alert(IPV4).finding])
    assert apply_inhibitions(matched, [], TODAY) == (matched, [])
