"""Inhibitions: what the operator said must not be alerted, until when. Pure: the day is passed in."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import NamedTuple
from urllib.parse import urlsplit

from alertd.domain.routing import Inhibition
from alertd.domain.values import Finding, IndicatorType
from alertd.match.index import MatchResult

# -- inhibitions ---------------------------------------------------------------------------------------------


def _covers(inhibited: str, finding: Finding) -> bool:
    """Whether an inhibition's indicator covers the finding's: same value, an address in its CIDR, a subdomain."""
    value = finding.indicator.value
    if inhibited == value or inhibited == value.lower():
        return True
    kind = finding.indicator.type
    if kind in (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR):
        try:
            net = ipaddress.ip_network(inhibited, strict=False)
            mine = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return mine.version == net.version and mine.subnet_of(net)  # type: ignore[arg-type]
    if kind in (IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.EMAIL):
        host = value.rpartition("@")[2] if kind is IndicatorType.EMAIL else value
        if kind is IndicatorType.URL:
            host = urlsplit(value).hostname or ""
        host = host.lower()
        return host == inhibited or host.endswith("." + inhibited)
    return False


def inhibition_for(finding: Finding, inhibitions: Sequence[Inhibition], today: date) -> Inhibition | None:
    """The first inhibition in force that holds a finding back, or None (expired ones no longer apply)."""
    for inh in inhibitions:
        if inh.expires is not None and inh.expires < today:
            continue
        if inh.establishment is not None and inh.establishment != finding.establishment:
            continue
        if inh.feed is not None and inh.feed != finding.feed:
            continue
        if inh.type is not None and inh.type is not finding.indicator.type:
            continue
        if inh.indicator is not None and not _covers(inh.indicator, finding):
            continue
        return inh
    return None


class Inhibited(NamedTuple):
    """A match result split by the inhibitions: what is ``kept``, and what is ``held`` back with its rule."""

    kept: MatchResult
    held: list[tuple[Finding, Inhibition]]


def apply_inhibitions(matched: MatchResult, rules: Sequence[Inhibition], today: date) -> Inhibited:
    """Split ``matched`` by the inhibitions in force ``today``; ``matched`` itself is left as it was."""
    if not rules:
        return Inhibited(matched, [])
    kept: list[Finding] = []
    held: list[tuple[Finding, Inhibition]] = []
    for finding in matched.findings:
        inh = inhibition_for(finding, rules, today)
        if inh is None:
            kept.append(finding)
        else:
            held.append((finding, inh))
    return Inhibited(replace(matched, findings=kept), held)
