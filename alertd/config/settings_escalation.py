"""``escalation`` in ``alertd.yaml``: how long a warning may wait for a response through its personal link, per
severity, and the business time the wait is counted in (contract §2 and §4, "Acknowledgements")."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

from alertd.config.common import parse_duration
from alertd.config.routing import read_business_days, read_holidays, read_hours
from alertd.config.yamlsrc import Reader, YMap
from alertd.domain.settings import DEFAULT_ESCALATION, DEFAULT_ESCALATION_DELAYS, EscalationSettings
from alertd.domain.values import SEVERITY_NAMES, Severity


def read_escalation(m: YMap, r: Reader) -> EscalationSettings:
    """``escalation: {delays: {imminent: 4h, …}, business_hours, business_days, holidays}``; the defaults when
    absent (imminent after 4 hours, every hour counted), and problems in ``r``."""
    if "escalation" not in m or (em := r.mapping(m["escalation"], m.value_pos["escalation"], "'escalation'")) is None:
        return DEFAULT_ESCALATION
    r.keys(em, "'escalation'", (), ("delays", "business_hours", "business_days", "holidays"))
    delays = dict(DEFAULT_ESCALATION_DELAYS)
    if "delays" in em and (dm := r.mapping(em["delays"], em.value_pos["delays"], "'escalation.delays'")):
        r.keys(dm, "'escalation.delays'", (), SEVERITY_NAMES)
        for name in SEVERITY_NAMES:
            if (text := r.value(dm, name, str)) is None:
                continue
            severity = Severity.parse(name)
            if text == "never":
                delays.pop(severity, None)
                continue
            try:
                delay = parse_duration(text)
            except ValueError as exc:
                r.error(dm.value_pos[name], f"{exc}, or 'never'")
                continue
            if delay <= timedelta(0):
                r.error(dm.value_pos[name], f"escalation delay {text!r}: give a positive duration, or 'never'")
            delays[severity] = delay
    hours = read_hours(em, r, "business_hours")
    if hours is not None and hours[0] >= hours[1]:
        r.error(em.value_pos["business_hours"], "business_hours run from a morning time to a later one, '08:00-18:00'")
    days = read_business_days(em, r)
    if days is not None and not days:
        r.error(em.value_pos["business_days"], "business_days names no day: escalations would never be due")
    return EscalationSettings(MappingProxyType(delays), hours, days, read_holidays(em, r))
