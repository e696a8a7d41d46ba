"""Isolation, as a property: for random registries, subscriptions and feed entries, every email goes to one
establishment's contacts only and mentions only that establishment's assets and findings (contract §4)."""

from __future__ import annotations

import email
import ipaddress
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from types import MappingProxyType

import pytest
from builders import make_feed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.establishments import Contact, Establishment, Registry
from alertd.domain.feeds import FeedFormat
from alertd.domain.routing import Selector, Subscription
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Severity
from alertd.render.defang import defang
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

BASE = load_config(ROOT / "config" / "alertd.yaml")
WORDS = ["Aubrac", "Bresse", "Cerdagne", "Dombes", "Esterel", "Forez", "Gatinais", "Hurepoix", "Iseran", "Jura"]
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
FEEDS = (
    make_feed("c2", FeedFormat.CSV, FeedKind.COMPROMISE),
    make_feed("leaks", FeedFormat.LEAK_VICTIMS, FeedKind.LEAK),
    make_feed("news", FeedFormat.RSS, FeedKind.ADVISORY, Severity.HIGH),
)


def establishment(i: int, word: str, language: str) -> Establishment:
    return Establishment(
        id=f"E{i:03d}",
        name=f"Centre Hospitalier de {word}",
        kind="CH" if i % 2 else "clinique",
        language=language,
        contacts=(
            Contact(f"rssi@{word.lower()}-{i}.fr"),
            Contact(f"astreinte@{word.lower()}-{i}.fr", "on-call", Severity.IMMINENT),
        ),
        networks=(ipaddress.ip_network(f"45.{10 + i}.{i * 7 % 250}.0/24"),),
        domains=(f"{word.lower()}-{i}.fr",),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Registry, tuple[Subscription, ...], list[Observation]]:
    n = draw(st.integers(min_value=2, max_value=6))
    words = draw(st.permutations(WORDS))[:n]
    ests = [establishment(i, w, draw(st.sampled_from(["fr", "en"]))) for i, w in enumerate(words)]
    registry = Registry(MappingProxyType({e.id: e for e in ests}), ())
    subs = (
        Subscription("all-now", Selector(everyone=True), Severity.INFO),
        Subscription(
            "ch-digest", Selector(kinds=frozenset({"CH"})), draw(st.sampled_from(list(Severity))), "0 8 * * *"
        ),
    )
    observations = []
    for k in range(draw(st.integers(min_value=1, max_value=8))):
        targets = draw(st.lists(st.sampled_from(ests), min_size=1, max_size=3))
        indicators: list[Indicator] = []
        text = ""
        for est in targets:
            net = est.networks[0]
            choice = draw(st.integers(min_value=0, max_value=2))
            if choice == 0:
                indicators.append(Indicator(IndicatorType.IPV4, str(net.network_address + draw(st.integers(1, 254)))))
            elif choice == 1:
                indicators.append(Indicator(IndicatorType.URL, f"https://vpn.{est.domains[0]}/login"))
            else:
                text += f" Victime : {est.name}."
        feed = draw(st.sampled_from(FEEDS))
        observations.append(
            Observation(feed.id, f"entry-{k}", feed.kind, f"entry {k}", tuple(indicators), text=text.strip())
        )
    return registry, subs, observations


def bodies(msg: EmailMessage) -> str:
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode("utf-8", "replace"))
    return "\n".join(parts) + "\n" + str(msg["Subject"])


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_every_email_concerns_one_establishment_only(
    world: tuple[Registry, tuple[Subscription, ...], list[Observation]],
) -> None:
    registry, subs, observations = world
    config = replace(BASE, registry=registry, subscriptions=subs, feeds=FEEDS, inhibitions=())
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite3")
        engine = Engine(config, store)
        matched = engine.match(observations)
        store.save_findings(matched.findings, engine.decide(matched, NOW), NOW)
        engine.dispatch(NOW, immediate=True, subscriptions=[s.name for s in subs])
        deliveries = store.deliveries()
        concerned = {f.establishment for f in matched.findings}
        messages = {d.id: store.message(d.id) for d in deliveries}
        store.close()
    # Every establishment concerned gets exactly one email.
    assert sorted(d.establishment for d in deliveries) == sorted(concerned) and concerned
    for d in deliveries:
        mine = registry.establishments[d.establishment]
        assert set(d.recipients) <= {c.email for c in mine.contacts}
        msg = email.message_from_bytes(messages[d.id], policy=default)
        assert isinstance(msg, EmailMessage)
        assert {a.addr_spec for a in msg["To"].addresses} == set(d.recipients)
        text = bodies(msg)
        for other in registry.establishments.values():
            if other.id == mine.id:
                continue
            for secret in (
                other.id,
                other.name,
                other.domains[0],
                defang(other.domains[0]),
                *(c.email for c in other.contacts),
            ):
                assert secret not in text, (mine.id, other.id, secret)
            prefix = str(other.networks[0].network_address).rsplit(".", 1)[0]
            assert prefix + "." not in text and defang(prefix + ".1").rsplit("[.]", 1)[0] + "[.]" not in text
