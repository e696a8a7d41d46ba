"""Issue #11 end to end, on real public documents: the evidence level of every vulnerability warning, through whole
polls of the real daemon pieces (a SQLite store, the engine, Maildir delivery, the ``alertd`` command).

The registry and the expected judgements are in ``evidence_cases.py`` (the same ones ``bench/evidence.py`` counts);
the emails are read as a person reads them by ``evidence_emails.py``. Three orders of polling:

- **KEV without NVD**: the catalogue names no versions, so every KEV warning is *unverified*;
- **KEV with NVD and the CSAF advisories known earlier**: each KEV entry is judged at once by their ranges;
- **KEV with the Cisco advisory known later**: told *unverified* first, then confirmed (a follow-up at the full
  severity) or withdrawn when the advisory arrives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from configs import alertd
from evidence_cases import (
    ANDROID_PIXEL,
    CATALOGUE_CASES,
    CATALOGUES,
    CISCO,
    DOCUMENTS,
    KEV,
    KEV_ALONE_CASES,
    KEV_KNOWN_CASES,
    NVD,
    QUESTIONED,
    REDHAT,
    SMART_INSTALL,
    Case,
    Document,
    expected,
    write_config,
)
from evidence_emails import AFFECTED_WORDS, check_email, read_maildir, text_part
from http_server import FeedServer
from paths import DATA

from alertd.config.files import load_config
from alertd.domain.codes import Evidence, VersionBasis
from alertd.domain.facts import VersionFact
from alertd.domain.values import Alert, Severity
from alertd.intake.fetch import Fetcher
from alertd.send.transports import make_transport
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

NOW = datetime(2026, 8, 10, 8, 0, tzinfo=UTC)  # a Monday, 10:00 in Paris
B = VersionBasis
Key = tuple[str, str, str]  # (establishment, CVE, asset)


def _questioned(key: Key) -> bool:
    return key[0] in QUESTIONED


# -- the dry run, through the real command -----------------------------------------------------------------


def dry_run(config: Path) -> list[dict[str, object]]:
    """``alertd poll --dry-run``'s records."""
    result = alertd(config, "poll", "--dry-run", timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def software_records(records: Iterable[dict[str, object]], feeds: Iterable[str]) -> dict[Key, dict[str, object]]:
    """The dry run's software findings (alerts and those suppressed as not affected) of these feeds, by key."""
    wanted = set(feeds)
    out: dict[Key, dict[str, object]] = {}
    for r in records:
        if "evidence" not in r or r["feed"] not in wanted:
            continue
        key = (str(r["establishment"]), str(r["indicator"]), str(r["asset"]))
        assert key not in out, key
        out[key] = r
    return out


def assert_records(records: dict[Key, dict[str, object]], cases: Sequence[Case], kev: bool) -> None:
    """Each record is judged as its case says, and every record is a case (bar the questioned ones)."""
    wanted = expected(cases)
    assert {k for k in records if not _questioned(k)} == set(wanted)
    for key, case in wanted.items():
        r = records[key]
        got = (r["evidence"], r["basis"], r["range"], r["range_source"])
        assert got == (case.evidence.value, case.basis.value, case.range, case.source), key
        if case.evidence is Evidence.NOT_AFFECTED:
            assert r["suppressed"] == f"not-affected: {case.basis.value}", key
            continue
        assert "suppressed" not in r, key
        if kev:  # KEV's rule is critical; one level lower when the version was not checked
            assert r["severity"] == ("critical" if case.evidence is Evidence.AFFECTED else "high"), key


def test_kev_without_nvd_every_warning_is_unverified(tmp_path: Path) -> None:
    records = dry_run(write_config(tmp_path, [KEV]))
    kev = software_records(records, ["kev"])
    assert_records(kev, KEV_ALONE_CASES, kev=True)
    assert {r["evidence"] for r in kev.values()} == {"unverified"}
    assert all(r["range"] is None and r["range_source"] is None for r in kev.values())
    # KEV's "Android Pixel" is no product of this registry: without NVD's word, no Android finding at all.
    assert not any(key[0] == "phones" for key in kev)


def test_kev_with_the_catalogues_polled_first_dry_run(tmp_path: Path) -> None:
    """The whole registry against every document, catalogues first then KEV, over a loopback HTTP server."""
    with FeedServer() as server:
        server.serve_dir("/data/", DATA)
        records = dry_run(write_config(tmp_path, DOCUMENTS, server.url("/data")))
    assert_records(software_records(records, [d.feed for d in CATALOGUES]), CATALOGUE_CASES, kev=False)
    assert_records(software_records(records, ["kev"]), KEV_KNOWN_CASES, kev=True)


# -- whole polls through the engine, a real store and Maildir delivery -------------------------------------


class Daemon:
    """The engine of a test configuration over its own store, polling documents and delivering into a Maildir."""

    def __init__(self, tmp: Path, documents: Sequence[Document]) -> None:
        self.path = write_config(tmp, documents)
        self.config = load_config(self.path)
        self.store = Store.in_state_dir(self.config.settings.state_dir)
        self.engine = Engine(self.config, self.store)
        self.maildir = tmp / "maildir"
        self.summarised = 0  # the alerts past the size budget (in the summary, not detailed), by check_emails

    def poll(self, documents: Iterable[Document], now: datetime) -> None:
        """Poll these documents' feeds, in this order."""
        feeds = {f.id: f for f in self.config.feeds}

        async def run() -> None:
            async with Fetcher() as fetcher:
                for doc in documents:
                    report = await self.engine.poll(feeds[doc.feed], fetcher, now)
                    assert report.ok, report.error

        asyncio.run(run())

    def queued(self) -> dict[tuple[str, str, str, str], Alert]:
        """The alerts waiting for an email, by (feed, establishment, CVE, asset)."""
        return {
            (q.alert.finding.feed, est, q.alert.finding.indicator.value, q.alert.finding.asset): q.alert
            for est, items in self.store.queued_alerts().items()
            for q in items
        }

    def deliver(self, now: datetime, digests: Sequence[str] = ()) -> list[int]:
        """Dispatch the immediate alerts (or these digests) and deliver them into the Maildir."""

        async def run() -> list[int]:
            created = self.engine.dispatch(now, immediate=not digests, subscriptions=digests)
            transport = make_transport(self.config.settings)
            try:
                report = await self.engine.flush(transport, now)
            finally:
                await transport.close()
            assert report.failed == 0 and report.retrying == 0
            return created

        return asyncio.run(run())

    def check_emails(self, emails: Iterable[object] | None = None) -> dict[str, int]:
        """Every delivered email checked (text and HTML): counts of its vulnerability alerts by evidence."""
        told: dict[str, list[Alert]] = {}
        for entry in self.store.history():
            told.setdefault(entry.message_id, []).append(entry.alert)
        knowledge = self.store.knowledge()
        counts: dict[str, int] = {}
        self.summarised = 0
        for msg in read_maildir(self.maildir):
            if "\n=== 1/" not in text_part(msg):
                # Past the size budget the email holds the summary alone, the details in its attachments: it
                # never says that a version is affected.
                assert not any(words in text_part(msg) for words in AFFECTED_WORDS.values())
                self.summarised += len(told[str(msg["Message-ID"])])
                continue
            alerts = told[str(msg["Message-ID"])]
            read = check_email(msg, alerts, knowledge)
            # Near the budget an email details its first blocks only, the others in its attachments.
            self.summarised += len(alerts) - sum(read.values()) // 2
            for evidence, n in read.items():
                counts[evidence] = counts.get(evidence, 0) + n
        return counts

    def close(self) -> None:
        self.store.close()


def assert_queued(queued: dict[tuple[str, str, str, str], Alert], feeds: Iterable[str], cases: Sequence[Case]) -> None:
    """The queued alerts of these feeds are exactly the affected and unverified cases, with their facts."""
    wanted = {k: c for k, c in expected(cases).items() if c.evidence is not Evidence.NOT_AFFECTED}
    feeds = set(feeds)
    got = {(est, cve, asset): a for (feed, est, cve, asset), a in queued.items() if feed in feeds}
    assert {k for k in got if not _questioned(k)} == set(wanted)
    for key, case in wanted.items():
        fact = got[key].finding.facts.version
        assert fact == VersionFact.judged(case.basis, fact.declared if fact else None, case.range, case.source), key


@pytest.fixture
def earlier(tmp_path: Path) -> Daemon:
    """Every catalogue polled, then KEV, then the emails delivered."""
    daemon = Daemon(tmp_path, DOCUMENTS)
    daemon.poll(CATALOGUES, NOW)
    daemon.poll([KEV], NOW + timedelta(minutes=5))
    return daemon


def test_kev_with_the_catalogues_known_earlier(earlier: Daemon) -> None:
    queued = earlier.queued()
    assert_queued(queued, [d.feed for d in CATALOGUES], CATALOGUE_CASES)
    assert_queued(queued, ["kev"], KEV_KNOWN_CASES)
    switch = queued[("kev", "cisco-switches", SMART_INSTALL, "Cisco IOS 15.2(2)E6")]
    assert switch.severity is Severity.CRITICAL and not switch.rule.unverified
    assert ("kev", "cisco-switches", SMART_INSTALL, "Cisco IOS 15.2(7)E2") not in queued
    unknown = queued[("kev", "cisco-unknown", SMART_INSTALL, "Cisco IOS")]
    assert unknown.severity is Severity.HIGH and unknown.rule.unverified
    earlier.close()


def test_no_email_says_affected_without_a_published_range_that_contains_the_version(earlier: Daemon) -> None:
    created = earlier.deliver(NOW + timedelta(minutes=10))
    assert len(created) == 12  # every establishment but aem-onprem, whose 143 CVEs are all fixed in 6.5.21
    counts = earlier.check_emails()
    # Each affected or unverified alert was read twice (text and HTML) and checked each time.
    queued_evidence = [e.alert.finding.facts.version for e in earlier.store.history()]
    assert all(v is not None for v in queued_evidence)
    assert sum(counts.values()) == 2 * (len(queued_evidence) - earlier.summarised)
    assert counts["affected"] > 0 and counts["unverified"] > 0
    texts = {str(m["To"]): text_part(m) for m in read_maildir(earlier.maildir)}
    assert "web@chu-portail.example" not in texts  # AEM 6.5.21 on premises: nothing to say
    fix = "5.14.0-284.25.1.rt14.310.el9_2"
    assert (
        f"(affected: older than the fixed version {fix} published by redhat-csaf, RHSA-2023:4378)"
        in texts["linux@rt-imaging.example"]
    )
    told = {(e.alert.finding.establishment, e.alert.finding.asset) for e in earlier.store.history()}
    assert ("rt-kernels", f"Red Hat kernel-rt {fix}") not in told  # the fixed build: no alert
    earlier.close()


def test_explain_shows_the_source_the_range_and_the_verdict(earlier: Daemon) -> None:
    listed = alertd(earlier.path, "explain", "--establishment", "cisco-switches", "--cve", SMART_INSTALL)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    source = "cisco-csaf, cisco-sa-20180328-smi2"
    # Each source, with what it said; the item's comparisons, and the verdict.
    assert f"  {source} (CVSS 9.8)" in lines
    assert "  kev (exploited in the wild)" in lines and "    Cisco IOS and IOS XE: named, no version given" in lines
    assert "  Cisco IOS 15.2(2)E6  (version judged: 15.2(2)E6)" in lines
    assert f"    {source}: affected =15.2(2)E6 → inside: yes" in lines
    assert f"    evidence: affected (listed-affected, range =15.2(2)E6 from {source})" in lines
    assert "  Cisco IOS 15.2(7)E2  (version judged: 15.2(7)E2)" in lines
    assert "    evidence: not-affected (outside-range)" in lines
    assert "    → NOT AFFECTED: no alert" in lines

    other_line = alertd(earlier.path, "explain", "--establishment", "fire-panels-b", "--cve", "CVE-2024-22040")
    assert other_line.returncode == 0, other_line.stderr
    text = other_line.stdout
    source = "siemens-csaf, ICSA-24-074-09"
    assert "    Siemens Sinteso FS20 EN Fire Panel FC20: affected <MP8_SR4" in text
    assert "  Siemens Sinteso FS20 EN Fire Panel FC20 IP8  (version judged: IP8)" in text
    assert f"    {source}: affected <MP8_SR4 → inside: not comparable" in text
    assert "    evidence: unverified (not-comparable)" in text
    assert "    → UNVERIFIED: an alert one severity level lower, saying the version was not checked" in text
    # The same establishment's engineering tool: every version, by the same advisory.
    assert f"    evidence: affected (all-versions, range every version from {source})" in text
    earlier.close()


# -- KEV first, the catalogue later ------------------------------------------------------------------------


@pytest.fixture
def later(tmp_path: Path) -> Daemon:
    """KEV polled and told first; the Cisco advisory polled an hour later."""
    daemon = Daemon(tmp_path, [KEV, CISCO])
    daemon.poll([KEV], NOW)
    assert len(daemon.deliver(NOW)) == 4  # cisco-switches, cisco-unknown, browsers, gateways
    daemon.poll([CISCO], NOW + timedelta(hours=1))
    return daemon


def test_kev_with_the_catalogue_known_later_confirms_and_withdraws(later: Daemon) -> None:
    first = later.check_emails()
    assert set(first) == {"unverified"}  # KEV alone: nothing said affected
    queued = later.queued()
    confirmed = queued[("kev", "cisco-switches", SMART_INSTALL, "Cisco IOS 15.2(2)E6")]
    # News at full severity, not a reminder: the version is now known to be affected.
    assert not confirmed.follow_up and confirmed.severity is Severity.CRITICAL and not confirmed.rule.unverified
    version = confirmed.finding.facts.version
    assert version is not None and version.basis is B.LISTED_AFFECTED and version.range == "=15.2(2)E6"
    assert ("kev", "cisco-switches", SMART_INSTALL, "Cisco IOS 15.2(7)E2") not in queued
    # The told "not checked" warning of 15.2(7)E2 is withdrawn: not affected after all.
    withdrawn = later.store.resolved_findings_untold("cisco-switches")["cisco-switches"]
    assert [(r.finding.asset, r.resolution) for r in withdrawn] == [("Cisco IOS 15.2(7)E2", B.OUTSIDE_RANGE)]
    # The other KEV entries, and the item without a version, stay as told: nothing new for them.
    assert ("kev", "cisco-unknown", SMART_INSTALL, "Cisco IOS") not in queued

    assert len(later.deliver(NOW + timedelta(hours=1))) == 2  # cisco-switches' confirmation, cisco-unknown's CSAF
    counts = later.check_emails()
    assert counts["affected"] == 2 * 2  # the KEV confirmation and the CSAF entry, text and HTML
    text = text_part(read_maildir(later.maildir)[-2])
    assert "15.2(2)E6 (concernée\u00a0: listée comme vulnérable par cisco-csaf, cisco-sa-20180328-smi2)" in text
    later.close()


def test_the_next_email_carries_the_correction(later: Daemon) -> None:
    later.deliver(NOW + timedelta(hours=1))
    later.deliver(NOW + timedelta(days=1), digests=["daily"])
    to_switches = [m for m in read_maildir(later.maildir) if str(m["To"]) == "rssi@commutateurs.example"]
    after = "\n".join(text_part(m) for m in to_switches[1:])
    later.close()
    assert "=== Correction" in after and "Cisco IOS 15.2(7)E2" in after


def test_a_declared_version_is_shown_as_declared(earlier: Daemon) -> None:
    earlier.deliver(NOW + timedelta(minutes=10))
    texts = {str(m["To"]): text_part(m) for m in read_maildir(earlier.maildir)}
    earlier.close()
    assert "5.14.0-284.11.1.rt14.296.el9_2 (affected:" in texts["linux@rt-imaging.example"]


# -- judgements that look wrong ----------------------------------------------------------------------------


def _told(tmp: Path, documents: Sequence[Document], est: str) -> dict[tuple[str, str], VersionFact]:
    """What a whole poll of these documents queues for one establishment: the facts by (feed, CVE)."""
    daemon = Daemon(tmp, documents)
    daemon.poll(documents, NOW)
    queued = daemon.queued()
    daemon.close()
    return {
        (feed, cve): alert.finding.facts.version
        for (feed, e, cve, _asset), alert in queued.items()
        if e == est and alert.finding.facts.version is not None
    }


def test_nvd_android_na_version_is_not_every_version(tmp_path: Path) -> None:
    told = _told(tmp_path, [NVD, KEV], "phones")
    assert set(told) <= {("nvd", ANDROID_PIXEL), ("kev", ANDROID_PIXEL)}
    assert all(fact.evidence is not Evidence.AFFECTED for fact in told.values()), told


def test_a_rhel8_build_is_not_judged_by_a_rhel9_fix(tmp_path: Path) -> None:
    told = _told(tmp_path, [REDHAT], "rt-kernels-el8")
    assert all(fact.evidence is not Evidence.AFFECTED for fact in told.values()), told
