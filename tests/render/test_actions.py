"""What each alert means and what to do about it, scaled to the case: a source's status, its first-seen date, a
phishing bulletin, a product's advisory (render/actions.py over the catalogs' "meaning" and "action" words)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from builders import CVE, IPV4, NOW, make_alert, make_feed_spec
from paths import DATA, ROOT

from alertd.config.registry import load_registry
from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Observation, Severity
from alertd.intake.formats import csvfeed, rss
from alertd.match.index import MatchIndex
from alertd.render import actions, catalog
from alertd.render.defang import defang_indicator

FR, EN = catalog.words("fr"), catalog.words("en")
CONTACT = "cert@cert-sante.example"
NBSP = "\u00a0"
FEODO_COLUMNS = {
    "ip": "dst_ip",
    "port": "dst_port",
    "first_seen": "first_seen_utc",
    "malware": "malware",
    "status": "c2_status",
    "last_seen": "last_online",
}


def _alert(finding: Finding, severity: Severity = Severity.HIGH) -> Alert:
    return Alert(finding, severity, SeverityRule.of(RuleKind.NO_HIGHER_RULE), "everyone", True, NOW, NOW)


def _steps(words: catalog.Words, alert: Alert, *, link: str | None = None, tz: ZoneInfo | None = None) -> list[str]:
    f = alert.finding
    facts = dict(f.facts.known())
    return actions.steps(words, alert, defang_indicator(f.indicator), f.asset, facts, CONTACT, link=link, tz=tz)


def _meaning(words: catalog.Words, alert: Alert) -> str:
    return actions.meaning(words, alert, dict(alert.finding.facts.known()))


# -- the example CERT-FR feed through the real matcher ------------------------------------------------------------


@pytest.fixture(scope="module")
def certfr() -> dict[tuple[str, MatchReason], Alert]:
    """The example feed's bulletins matched against the example registry, by (bulletin, reason)."""
    index = MatchIndex(load_registry(ROOT / "config" / "establishments"), benign=None)
    feed = make_feed_spec("certfr-alertes", FeedFormat.RSS)
    observations = rss.parse(feed, (ROOT / "config" / "feeds" / "certfr-alertes.xml").read_bytes())
    return {(f.entry, f.reason): _alert(f) for f in index.match(observations).findings}


def test_phishing_bulletin_asks_for_awareness_never_a_patch(certfr: dict[tuple[str, MatchReason], Alert]) -> None:
    found = [alert for (entry, _), alert in certfr.items() if entry == "CERTFR-2024-ALE-005"]
    # The bulletin names the hospital and links to a page under its domain: both findings get the same steps.
    assert {a.finding.reason for a in found} == {MatchReason.NAME_MENTION, MatchReason.DOMAIN}
    for alert in found:
        steps = _steps(FR, alert)
        text = " ".join(steps).casefold()
        assert "correctif" not in text and "mettez à jour" not in text
        link = "https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-005/"
        assert steps[0] == f"Lisez l'avis ({link}) et vérifiez si vos systèmes sont concernés."
        assert steps[1].startswith(f"Prévenez vos personnels{NBSP}:")
        assert "passerelle de messagerie" in steps[2]
        report = f"Transmettez-nous les messages reçus (en pièce jointe, avec leurs en-têtes){NBSP}: {CONTACT}."
        assert steps[-1] == report
        assert "hameçonnage" in _meaning(FR, alert)
        english = _steps(EN, alert)
        assert not any("patch" in step.casefold() for step in english)
        assert english[1].startswith("Warn your staff:")
        assert _meaning(EN, alert).startswith("A security advisory reports a phishing or impersonation campaign")


@pytest.mark.parametrize("bulletin", ["CERTFR-2024-ALE-004", "CERTFR-2024-ALE-001"])
def test_product_bulletins_keep_the_patch(certfr: dict[tuple[str, MatchReason], Alert], bulletin: str) -> None:
    alert = certfr[(bulletin, MatchReason.PRODUCT_MENTION)]
    steps = _steps(FR, alert)
    # The version was not checked: first check it, then read the bulletin and patch.
    assert steps[0].startswith("Vérifiez d'abord dans l'avis de l'éditeur si la version que vous utilisez (")
    assert steps[1].startswith(f"Lisez l'avis (https://www.cert.ssi.gouv.fr/alerte/{bulletin}/)")
    assert steps[2] == FR.action("advisory.patch")
    assert _meaning(FR, alert) == FR.word("meaning", "advisory")
    assert "Apply the recommended patches or mitigations." in _steps(EN, alert)


def test_other_advisory_mentions_follow_the_bulletin() -> None:
    name = Indicator(IndicatorType.NAME, "CHU de Bordeaux")
    alert = make_alert(name, reason=MatchReason.NAME_MENTION, asset="CHU de Bordeaux", kind=FeedKind.ADVISORY)
    assert _steps(EN, alert) == [
        "Read the advisory (https://feodotracker.abuse.ch/browse/) and check whether your systems are concerned.",
        "Apply the advisory's recommendations.",
    ]
    # No usable link: the step names none.
    no_link = replace(alert, finding=replace(alert.finding, link="javascript:alert(1)"))
    assert _steps(EN, no_link)[0] == EN.action("advisory.read")
    # The link the email shows (scrubbed by the caller) wins.
    assert "(hxxps://cert[.]example/a)" in _steps(EN, alert, link="hxxps://cert[.]example/a")[0]


def test_a_product_advisory_with_a_phishing_topic_keeps_its_patch() -> None:
    product = Indicator(IndicatorType.PRODUCT, "Microsoft Outlook")
    alert = make_alert(
        product,
        reason=MatchReason.PRODUCT_MENTION,
        asset="Microsoft Outlook",
        kind=FeedKind.ADVISORY,
        facts=Facts(topic="phishing"),
    )
    assert EN.action("advisory.patch") in _steps(EN, alert)
    assert not actions.phishing(alert)


def test_bulletin_link_carries_no_indicator_of_its_alert() -> None:
    url = Indicator(IndicatorType.URL, "https://evil.example/login")
    alert = make_alert(url, kind=FeedKind.ADVISORY, link="https://evil.example/login")
    assert actions.bulletin_link(alert) is None
    spaced = replace(alert, finding=replace(alert.finding, link="https://cert.example/a b"))
    assert actions.bulletin_link(spaced) is None
    fine = replace(alert, finding=replace(alert.finding, link="https://cert.example/alerte/1/"))
    assert actions.bulletin_link(fine) == "https://cert.example/alerte/1/"


# -- compromise: the real Feodo list's status, last activity and first-seen date ----------------------------------


@pytest.fixture(scope="module")
def feodo() -> dict[str, Observation]:
    feed = make_feed_spec("feodo", FeedFormat.CSV, columns=FEODO_COLUMNS)
    body = (DATA / "abusech" / "feodotracker_ipblocklist_2021-12-20.csv").read_bytes()
    return {o.indicators[0].value: o for o in csvfeed.parse(feed, body)}


def _compromise(observation: Observation) -> Alert:
    finding = Finding(
        "000000044",
        observation.indicators[0],
        "217.79.184.0/24",
        MatchReason.ADDRESS_IN_NETWORK,
        observation.feed,
        observation.kind,
        observation.entry,
        observation.title,
        "https://feodotracker.abuse.ch/browse/",
        observation.published,
        observation.facts,
    )
    return _alert(finding, Severity.IMMINENT)


def test_offline_server_is_no_act_now(feodo: dict[str, Observation]) -> None:
    alert = _compromise(feodo["217.79.184.243"])  # offline, last online 2021-12-01, first seen 2021-01-17
    meaning = _meaning(FR, alert)
    assert "Agissez maintenant" not in meaning
    assert f"inactif depuis le {FR.day(date(2021, 12, 1))}{NBSP}: vérifiez s'il a été contacté" in meaning
    assert "logiciels malveillants" in meaning and "maliciel" not in meaning
    steps = _steps(FR, alert)
    assert steps[0].startswith("Identifiez l'équipement ou le service correspondant à 217[.]79[.]184[.]243")
    assert "isolez" not in steps[0]
    assert f"au moins depuis le {FR.day(date(2021, 1, 17))} (première observation par la source)" in steps[1]
    assert actions.source_status(FR, alert) == f"inactif selon la source depuis le {FR.day(date(2021, 12, 1))}"
    english = _meaning(EN, alert)
    assert "Act now" not in english
    assert f"inactive since {EN.day(date(2021, 12, 1))}: check whether it was reached" in english


def test_online_server_acts_now_and_searches_since_the_source_saw_it(feodo: dict[str, Observation]) -> None:
    alert = _compromise(feodo["51.178.161.32"])  # online, first seen 2021-01-17 07:44:46 UTC
    assert _meaning(FR, alert).endswith("Agissez maintenant.")
    steps = _steps(FR, alert)
    assert steps[0].startswith("Identifiez l'équipement ou le service correspondant à 51[.]178[.]161[.]32, isolez-le")
    assert f"depuis le {FR.day(date(2021, 1, 17))}" in steps[1]
    assert steps[2] == FR.action("compromise.contact").format(contact=CONTACT)
    assert actions.source_status(EN, alert) == f"active at the source (seen active on {EN.day(date(2021, 12, 20))})"
    # The day is the reader's: late on the 17th in UTC is the 18th in Tokyo.
    late = replace(alert, finding=replace(alert.finding, published=datetime(2021, 1, 17, 23, 30, tzinfo=UTC)))
    assert EN.day(date(2021, 1, 18)) in _steps(EN, late, tz=ZoneInfo("Asia/Tokyo"))[1]


def test_no_status_no_date_keeps_the_current_wording() -> None:
    alert = make_alert(IPV4)
    plain = replace(alert, finding=replace(alert.finding, published=None))
    assert _meaning(FR, plain) == FR.word("meaning", "compromise")
    assert _steps(FR, plain)[1] == FR.action("compromise.search-logs").format(i="147[.]210[.]1[.]5")
    assert actions.source_status(FR, plain) is None
    # A status the source words otherwise, or a last-seen that is no date, says no more than it knows.
    odd = replace(alert, finding=replace(alert.finding, facts=Facts(status="sinkholed", last_seen="hier")))
    assert _meaning(FR, odd) == FR.word("meaning", "compromise")
    undated = replace(alert, finding=replace(alert.finding, facts=Facts(status="offline", last_seen="hier")))
    assert _meaning(EN, undated) == EN.word("meaning", "compromise.inactive")
    assert actions.source_status(EN, undated) == "inactive at the source"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-03-11", date(2024, 3, 11)),
        ("2024-03-11 17:51:44", date(2024, 3, 11)),
        ("2024-03-11 17:51:44 UTC", date(2024, 3, 11)),
        ("2024-03-11T23:30:00-02:00", date(2024, 3, 12)),
        ("11/03/2024", None),
        ("", None),
        (None, None),
    ],
)
def test_source_day(text: str | None, day: date | None) -> None:
    assert actions.source_day(text) == day


# -- the other kinds keep their steps ----------------------------------------------------------------------------


def test_vulnerability_exposure_and_leak_steps_are_unchanged() -> None:
    kev = make_alert(
        CVE,
        reason=MatchReason.KEV_PRODUCT,
        asset="Citrix NetScaler ADC",
        kind=FeedKind.VULNERABILITY,
        facts=Facts(due_date="2023-11-08"),
    )
    assert _steps(EN, kev) == [
        EN.action("kev.first"),
        EN.action("vulnerability.patch").format(asset="Citrix NetScaler ADC"),
        EN.action("vulnerability.check-compromise"),
        EN.action("kev.due-date").format(due_date="2023-11-08"),
    ]
    exposure = make_alert(IPV4, kind=FeedKind.EXPOSURE, facts=Facts(port="3389"))
    assert _steps(FR, exposure)[0] == FR.action("exposure.close").format(port=" (port 3389)")
    leak = make_alert(Indicator(IndicatorType.NAME, "CHU de Bordeaux"), kind=FeedKind.LEAK)
    assert _steps(FR, leak)[-1] == FR.action("leak.contact").format(contact=CONTACT)


# -- the words -----------------------------------------------------------------------------------------------------

_NEW = [
    ("meaning", "compromise.inactive.dated"),
    ("meaning", "compromise.inactive"),
    ("meaning", "advisory.phishing"),
    ("action", "compromise.search-logs.since"),
    ("action", "compromise.identify"),
    ("action", "advisory.read-link"),
    ("action", "advisory.follow"),
    *(("action", f"phishing.{step}") for step in actions.PHISHING_STEPS),
    *(("source-status", code) for code in ("active", "active.dated", "inactive", "inactive.dated")),
]


@pytest.mark.parametrize(("context", "code"), _NEW)
def test_new_words_in_both_languages_with_french_typography(context: str, code: str) -> None:
    french, english = FR.word(context, code), EN.word(context, code)
    assert french and english
    assert " :" not in french and " ;" not in french  # a no-break space before French colons
    assert french.count("{") == english.count("{")


def test_no_maliciel_in_the_meanings() -> None:
    for message in catalog.read_catalog("fr"):
        if message.context == "meaning":
            assert "maliciel" not in str(message.string)
