"""Polling a feed: fetch → parse → match → hold back what inhibitions say → decide → record.

The pure stages (parse, match, policy) get their inputs here and give their values back; the fetcher and the
store are the only I/O. Parsing, matching and decoding stored entries run in worker threads, and so do the
store's big writes (a poll's entries and findings, in the store's writer thread); the store's reads stay on the
loop. Each entry's title is cut to ``MAX_TITLE`` as it is read, so a hostile 45 MB title is not stored as
the entry's, its finding's and its alert's title: its text (capped by the parser) is the one copy kept.
Policy tells backlog from news by first contact: the poll notes the configuration's scope in the store once per
configuration, and hands policy each feed's previous successful poll and when each scope key was first noted.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from operator import itemgetter

from alertd.config.files import Config
from alertd.domain.codes import Evidence
from alertd.domain.errors import FeedError
from alertd.domain.feeds import FeedConfig, FeedFormat, FeedSpec, Validators
from alertd.domain.knowledge import NO_KNOWLEDGE, Knowledge
from alertd.domain.values import Alert, Finding, IndicatorType, Observation
from alertd.intake.fetch import Fetcher, FetchResult, redact_url
from alertd.intake.formats import FORMATS, csvfeed, parse_feed
from alertd.intake.formats.entries import Entries, bounded
from alertd.intake.reach import document_allowed, host_of, public_text
from alertd.match.batch import v4_sifted
from alertd.match.index import MatchIndex, MatchResult
from alertd.policy import decide as policy
from alertd.policy.backlog import Contact, contact_keys, scope_keys
from alertd.policy.inhibitions import Inhibited, apply_inhibitions
from alertd.service.clock import utcnow
from alertd.service.logs import get_logger
from alertd.service.setup import Prepared
from alertd.service.vitals import Vitals
from alertd.store import STORE_FAILURES
from alertd.store.codecs import observation_from_json, split_rows
from alertd.store.records import FeedState
from alertd.store.scope import NOTED_KEY
from alertd.store.sqlite import Store
from alertd.store.statecache import entry_key

log = get_logger("alertd")

MAX_DOCUMENTS = 2000
DOCUMENT_CONCURRENCY = 4
POLL_BACKOFF_CAP = timedelta(hours=6)
INHIBITION_LIST = "inhibition"  # the name inhibitions go by among the suppression lists a poll counts


@dataclass(slots=True)
class PollReport:
    """What one poll of a feed did, for the CLI's summary and the metrics."""

    feed: str
    ok: bool = True
    not_modified: bool = False
    observations: int = 0
    new: int = 0
    delisted: int = 0
    findings: int = 0  # those left once inhibitions held theirs back
    suppressed: int = 0
    alerts: int = 0
    inventory: int = 0  # of the alerts, those queued for the inventory email (backlog found on first contact)
    error: str | None = None
    consecutive_failures: int = 0
    inhibited: int = 0
    suppressed_by_list: dict[str, int] = field(default_factory=dict)
    alerts_by_severity: dict[str, int] = field(default_factory=dict)
    evidence: dict[str, int] = field(default_factory=dict)  # software findings by evidence level
    refused: list[str] = field(default_factory=list)  # index documents the reach rules refused, unfetched
    unread: int = 0  # index documents the feed's deadline left unread
    red: int = 0  # of the findings, those marked TLP:RED: emailed to no establishment, held for manual handling
    cut: int = 0  # the feed's max_entries when its document had more entries: those past it were not read


class Poller:
    """Polls feeds and re-matches what they list, under the configuration in force at each step."""

    def __init__(self, store: Store, current: Callable[[], Prepared], vitals: Vitals | None = None) -> None:
        self.store = store
        self.current = current  # a reload swaps the configuration between two steps of a poll, never within one
        # What this process saw of each feed, told by /healthz and STATUS= even when the store cannot record it.
        self.vitals = vitals or Vitals(store.path)
        # The feeds being polled now, each with its previous successful poll: the poll records its own success
        # before it is done (a feed not modified), and first contact is judged against the one before.
        self.polling: dict[str, datetime | None] = {}
        self._noted: Prepared | None = None  # the configuration whose scope is noted in the store
        # Per index feed whose last polls were cut short by their deadline: the documents those polls read, read
        # last by the next one so the pass moves on through the index (kept in memory: a restart starts over).
        self.passes: dict[str, set[str]] = {}
        self._deciding = asyncio.Lock()  # held from deciding on a poll's findings to recording them

    @property
    def config(self) -> Config:
        """The configuration in force now."""
        return self.current().config

    def match(self, observations: Sequence[Observation], extra: Knowledge = NO_KNOWLEDGE) -> MatchResult:
        """Match observations, each CVE judged by what the sources said of it so far (the store's knowledge, and
        ``extra``: what a dry run read from the feeds before this one)."""
        return self.current().index.match(observations, self._knowledge(observations, extra))

    async def match_off_loop(self, observations: Sequence[Observation]) -> MatchResult:
        """:meth:`match` with the matching itself in a worker thread (the index is an immutable snapshot), so a
        large feed does not hold up the event loop; the store is read here, on the loop."""
        return await asyncio.to_thread(self.current().index.match, observations, self._knowledge(observations))

    def _knowledge(self, observations: Sequence[Observation], extra: Knowledge = NO_KNOWLEDGE) -> Knowledge:
        """What the store knows of the CVEs these observations cite (plus ``extra``)."""
        cves = {i.value for o in observations for i in o.indicators if i.type is IndicatorType.CVE}
        known = self.store.knowledge(cves) if cves else {}
        for cve, statements in extra.items():
            if cve in cves:
                known.setdefault(cve, []).extend(statements)
        return known

    async def poll(self, feed: FeedConfig, fetcher: Fetcher, now: datetime | None = None) -> PollReport:
        """Fetch, parse, record and match one feed, and queue the alerts policy decides on."""
        report = PollReport(feed.id)
        try:
            state = self.store.feed_state(feed.id)
        except STORE_FAILURES as exc:
            # Damage met by this first read is damage all the same: told (/healthz 503), the poll failed, retried.
            reason = self.vitals.store_failed(exc, f"reading the state of {feed.id}")
            return self._failed(feed, report, f"the state store cannot be read: {reason}", now, store=True)
        self.polling[feed.id] = state.last_success
        try:
            return await self._poll(feed, fetcher, report, state, now)
        finally:
            del self.polling[feed.id]

    async def _poll(
        self, feed: FeedConfig, fetcher: Fetcher, report: PollReport, state: FeedState, now: datetime | None
    ) -> PollReport:
        flog = log.bind(feed=feed.id)
        stored = state.consecutive_failures
        deadline = asyncio.get_running_loop().time() + feed.deadline.total_seconds()
        try:
            try:
                async with asyncio.timeout_at(deadline):  # the index itself within the feed's deadline too
                    result = await fetcher.fetch(feed, state.validators)
            except TimeoutError:
                raise FeedError(deadline_passed(feed, 0, None)) from None
            documents = (
                None
                if result.not_modified
                else await read_documents(
                    feed,
                    fetcher,
                    result,
                    deadline=deadline,
                    first=self.passes.get(feed.id, ()),
                    keep=self.current().index,
                )
            )
        except FeedError as exc:
            return self._failed(feed, report, str(exc), now, stored)
        except Exception as exc:  # a parser bug must not take the other feeds, or the daemon, down with it
            flog.exception("feed parser crashed")
            # The exception's name only: its text may quote the feed (last_error reaches /healthz and the notice).
            why = f"internal error while reading the feed: {type(exc).__name__} (see the log)"
            return self._failed(feed, report, why, now, stored)
        if documents is not None and not documents.unread:
            self.passes.pop(feed.id, None)
            if (
                not documents.entries
                and not documents.incremental
                and state.last_success is not None
                and state.entries_seen
            ):
                # Taken as truth, an empty parse would delist every entry and resolve every finding of the feed.
                # An empty first poll, or one after an empty poll, is plausible and stays ok (and so is an
                # incremental read that brought nothing new: it delists nothing).
                return self._failed(feed, report, suspicious_emptiness(state.entries_seen), now, stored)
        elif documents is not None:
            # Cut short by the deadline: the next poll reads first what this one (and the ones before it) left.
            self.passes[feed.id] = self.passes.get(feed.id, set()) | set(documents.read)

        try:
            return await self._record(feed, report, result, documents, now or utcnow(), state.validators, stored)
        except STORE_FAILURES as exc:
            # A full disk, say: nothing of this poll is kept (its validators neither), so the next poll reads the
            # feed again and its entries are new to it again; nothing is lost, the poll is failed and retried.
            reason = self.vitals.store_failed(exc, f"recording the poll of {feed.id}")
            return self._failed(feed, report, f"the state store cannot be written: {reason}", now, stored, store=True)
        except Exception as exc:  # a matching failure fails this poll, not the cycle or the daemon
            flog.exception("feed processing failed")
            why = f"internal error while processing the feed: {type(exc).__name__} (see the log)"
            return self._failed(feed, report, why, now, stored)

    async def _record(
        self,
        feed: FeedConfig,
        report: PollReport,
        result: FetchResult,
        documents: Documents | None,
        now: datetime,
        previous: Validators,
        stored: int = 0,
    ) -> PollReport:
        """Store a fetched feed's entries, match them and queue what policy decides.

        A poll that left documents of its index unread (its deadline passed) stores and matches what it read,
        delists nothing, keeps no validators (the next poll reads the index again) and is reported failed. One
        that read part of the feed otherwise (documents failed or refused, cut at ``max_entries``) delists nothing
        either and keeps the ``previous`` validators, so the next poll reads again what this one left (a TAXII
        collection from the same date: nothing past the cut is skipped for good).
        """
        flog = log.bind(feed=feed.id)
        if documents is None:
            self.store.record_fetch(feed.id, now, result.validators, None)
            self._succeeded(feed.id, now)
            report.not_modified = True
            # Still listed: what the feed said is evaluated again, so a finding whose re-notification interval
            # has passed is told again, and its last sighting moves on, without parsing anything.
            report.alerts = await self.rematch(now, feed.id)
            flog.info("feed not modified", alerts=report.alerts)
            return report
        observations = documents.observations
        validators = result.validators if documents.settled else previous
        report.refused, report.unread = documents.refused, len(documents.unread)
        report.cut = feed.max_entries if documents.cut else 0
        self.note_cut(feed, documents.cut)
        # Entries of documents not read (failed, or left by the deadline) are not gone from the feed: nothing is
        # delisted, so no finding is resolved, unless every document was read.
        rows = documents.rows
        delta = await self.store.save_observations_off_loop(
            feed.id, observations if rows is None else rows.observations, now, complete=documents.complete, rows=rows
        )
        entries = documents.entries
        if FORMATS[feed.format].knowledge_only:
            # EPSS and the like tell about CVEs, never about an establishment: stored as knowledge, not matched.
            report.observations, report.new, report.delisted = entries, delta.new, delta.delisted
            if documents.unread:
                return self._failed(feed, report, deadline_passed(feed, len(documents.read), documents), now, stored)
            self.store.record_fetch(feed.id, now, validators, entries)
            self._succeeded(feed.id, now)
            flog.info("knowledge feed polled", observations=entries, new=delta.new)
            return report
        matched = await self.match_off_loop(observations)
        (kept, held), alerts = await self.queue(matched, now)
        report.evidence = dict(
            Counter(f.facts.version.evidence.value for f in kept.findings if f.facts.version is not None)
        )
        if matched.not_affected:
            report.evidence[Evidence.NOT_AFFECTED.value] = len(matched.not_affected)
        if delta.knowledge_changed:
            # What this feed said changes how entries of other feeds citing the same CVEs are judged (a KEV
            # entry told "version not checked" gets NVD's ranges): they are judged again now.
            alerts += await self.rejudge(delta.knowledge_changed, feed.id, now)
        report.observations, report.new, report.delisted = entries, delta.new, delta.delisted
        report.findings, report.suppressed, report.alerts = len(kept.findings), len(kept.suppressed), len(alerts)
        report.inventory = sum(a.inventory for a in alerts)
        report.red = sum(policy.withheld(f, feed) for f in kept.findings)
        report.inhibited = len(held)
        report.suppressed_by_list = dict(Counter(s.list for s in kept.suppressed))
        if held:
            report.suppressed_by_list[INHIBITION_LIST] = len(held)
        report.alerts_by_severity = dict(Counter(a.severity.label for a in alerts))
        if documents.unread:
            return self._failed(feed, report, deadline_passed(feed, len(documents.read), documents), now, stored)
        if rows is not None and documents.sifted_by is not self.current().index:
            # A reload came between the bulk read and the match: the entries not built were sifted with the index
            # before it, so every stored entry is matched again against the one in force.
            report.alerts += await self.rematch(now, feed.id)
        self.store.record_fetch(feed.id, now, validators, entries)
        self._succeeded(feed.id, now)
        flog.info(
            "feed polled",
            observations=entries,
            new=delta.new,
            changed=delta.changed,
            delisted=delta.delisted,
            findings=len(kept.findings),
            suppressed=len(kept.suppressed),
            alerts=len(alerts),
            inventory=report.inventory,
            refused=len(documents.refused),
        )
        return report

    def note_cut(self, feed: FeedConfig, cut: bool) -> None:
        """Note in the store whether the feed's last read stopped at its ``max_entries``: the operators' notice
        tells it once per cap (raising the cap and being cut again is told again)."""
        key, value = cut_key(feed.id), str(feed.max_entries) if cut else ""
        if cut:
            log.warning(cut_text(feed.max_entries), feed=feed.id)
        if self.store.meta(key) != value:
            self.store.set_meta(key, value)

    def _succeeded(self, feed: str, now: datetime) -> None:
        """A poll's success was recorded: the feed is well, and so is the store (it took a write)."""
        self.vitals.poll_ok(feed, now)
        self.vitals.store_written()

    def _failed(
        self,
        feed: FeedConfig,
        report: PollReport,
        error: str,
        now: datetime | None,
        stored: int = 0,
        *,
        store: bool = False,
    ) -> PollReport:
        """Record a failed poll: in the store when it can be written, in memory (:class:`Vitals`) always, so
        ``/healthz`` counts the failures a full disk could not record. ``stored``: the failures in a row the store
        held when the poll began; ``store``: the poll failed because the store could not be written."""
        # Stored, logged, shown in /healthz and the operators' notice: cleaned and bounded whatever its source.
        error = public_text(error)
        recorded: int | None = None
        try:
            recorded = self.store.record_failure(feed.id, now or utcnow(), error)
        except STORE_FAILURES as exc:
            self.vitals.store_failed(exc, f"recording the failure of {feed.id}")
        else:
            self.vitals.store_written()
        failures = self.vitals.poll_failed(feed.id, error, recorded=recorded, stored=stored, store_fault=store)
        flog = log.bind(feed=feed.id)
        flog.warning("feed failed", error=error, consecutive_failures=failures)
        if failures == feed.failures_alert:
            flog.error("feed unhealthy", error=error, consecutive_failures=failures)
        report.ok, report.error, report.consecutive_failures = False, error, failures
        return report

    async def rematch(self, now: datetime, feed: str | None = None) -> int:
        """Match every entry the feeds (or one feed) list now against the current registry; queue what is due.

        After a reload, an establishment added to the registry (or a network added to one) is matched against
        what the feeds already said, without waiting for them to change; after a poll that found its feed
        unchanged, re-notifications fall due. Decoding and matching run in a worker thread; the store stays on
        the loop. Returns the number of new alerts.
        """
        queued = 0
        for feed_id, bodies in self.store.listed_bodies(feed).items():
            if feed_id not in {f.id for f in self.config.feeds}:
                continue
            observations = await asyncio.to_thread(decode_listed, bodies, self.current().index)
            queued += len((await self.queue(await self.match_off_loop(observations), now))[1])
        if feed is None:
            log.info("registry re-matched against listed entries", alerts=queued)
        return queued

    async def rejudge(self, cves: Iterable[str], source_feed: str, now: datetime) -> list[Alert]:
        """Judge again the entries of other feeds that cite these CVEs, now that their knowledge changed: a finding
        now in a published range is confirmed (told again), one now outside them is withdrawn (a correction in
        the next email)."""
        # Knowledge-only feeds (EPSS) list CVEs, never establishments' assets: nothing of theirs to judge.
        configured = {f.id for f in self.config.feeds if not FORMATS[f.format].knowledge_only}
        alerts: list[Alert] = []
        for feed_id, bodies in self.store.listed_citing(cves, exclude_feed=source_feed).items():
            if feed_id not in configured:
                continue
            observations = await asyncio.to_thread(decode_observations, bodies)
            alerts += (await self.queue(await self.match_off_loop(observations), now))[1]
        return alerts

    async def queue(self, matched: MatchResult, now: datetime) -> tuple[Inhibited, list[Alert]]:
        """Hold back what inhibitions say, queue what policy decides, record the findings kept (in the store's
        writer thread; one poll at a time from deciding to recording, so concurrent polls never queue one finding
        twice); withdraw the findings told earlier that are now judged not affected."""
        async with self._deciding:
            decided_under = self.current()
            inhibited = self.inhibit(matched, now)
            alerts = self.decide(inhibited.kept, now)
            await self.store.save_findings_off_loop(inhibited.kept.findings, alerts, now)
            if self.current() is not decided_under:
                # A reload came while they were written: the alerts may name an establishment or subscription it
                # removed, after its own check of the queue (Engine.adopt) ran.
                self.drop_orphans()
        if matched.not_affected:
            self.store.withdraw(
                [(f, f.facts.version.basis) for f in matched.not_affected if f.facts.version and f.facts.version.basis],
                now,
            )
        return inhibited, alerts

    def drop_orphans(self) -> None:
        """Forget queued alerts whose subscription or establishment the configuration no longer has.

        Their findings then count as never told, so the next match queues them again under the current rules
        instead of leaving them waiting forever for a digest that no longer exists.
        """
        config = self.config
        dropped = self.store.drop_queued_alerts_except(
            [s.name for s in config.subscriptions], list(config.registry.establishments)
        )
        if dropped:
            log.warning("queued alerts of removed subscriptions or establishments dropped", alerts=dropped)

    def inhibit(self, matched: MatchResult, now: datetime) -> Inhibited:
        """``matched`` split by the inhibitions in force today (in the configured timezone)."""
        config = self.config
        return apply_inhibitions(matched, config.inhibitions, now.astimezone(config.settings.timezone).date())

    def decide(self, matched: MatchResult, now: datetime) -> list[Alert]:
        """The alerts policy decides on for these findings, given what the store says was told before."""
        cfg = self.config
        states = self.store.finding_states(f.key for f in matched.findings)
        return policy.decide(
            matched.findings,
            registry=cfg.registry,
            feeds={f.id: f for f in cfg.feeds},
            subscriptions=cfg.subscriptions,
            states=states,
            renotify=cfg.settings.renotify,
            now=now,
            contact=self.contact(now, [key for key, state in states.items() if state.queued], matched.findings),
        )

    def contact(self, now: datetime, queued: Iterable[str] = (), findings: Iterable[Finding] = ()) -> Contact:
        """What policy judges first contact from (contract §4): each feed's previous successful poll, when the scope
        keys of ``findings`` and of every subscription were first noted (the configuration's scope noted now if it
        was not yet), and which of the ``queued`` findings wait in an inventory."""
        prepared = self.current()
        if self._noted is not prepared:
            # The scope changes only with the configuration: noted once for each. After a reload, only that of the
            # establishments it did not take unchanged from the configuration noted before.
            config, noted = prepared.config, self._noted
            # The store says which registry files and subscriptions its scope was last noted for: a start with the
            # same ones has nothing to note (1.5 million keys to make and look up: seconds at national scale).
            digest = entry_key(NOTED_KEY, config.registry_digest, *(sub.name for sub in config.subscriptions))
            if noted is not None or not config.registry_digest or self.store.meta(NOTED_KEY) != digest:
                added = self.store.note_scope(
                    scope_keys(config.registry, config.subscriptions, noted.config.registry if noted else None), now
                )
                if added:
                    log.info("scope noted: first contact for what was added", keys=added)
                if config.registry_digest:
                    self.store.set_meta(NOTED_KEY, digest)
            self._noted = prepared
        # Read for the keys policy asks about only: a national registry has 1.5 million, a poll's findings a few.
        wanted = contact_keys(prepared.config.subscriptions, findings)
        previous: dict[str, datetime | None] = {s.feed: s.last_success for s in self.store.feed_states()}
        previous.update(self.polling)
        return Contact(previous, self.store.scope_since(wanted), self.store.queued_inventory(queued))


def decode_observations(bodies: Sequence[str]) -> list[Observation]:
    """Stored entries back into observations (run in a worker thread for large feeds)."""
    return [observation_from_json(body) for body in bodies]


def decode_listed(bodies: Sequence[str], index: MatchIndex) -> list[Observation]:
    """Stored entries back into observations to be matched against ``index``: of a bulk list's rows, only those
    the index yields something for (the others give no finding and no suppression), so a re-match of a
    million-row list decodes a few hundred of them, not a million (run in a worker thread). In the order given."""
    texts, rows = split_rows(bodies)
    found = [(n, observation_from_json(bodies[n])) for n in texts]
    for layout_text, (positions, lines) in rows.items():
        layout = json.loads(layout_text)
        kept = csvfeed.kept_lines(layout, lines, partial(v4_sifted, index))
        for k in range(len(lines)) if kept is None else kept:
            observation = csvfeed.row_observation(layout, lines[k])
            if observation is not None:
                found.append((positions[k], observation))
    found.sort(key=itemgetter(0))
    return [observation for _, observation in found]


@dataclass(slots=True)
class Documents:
    """What reading a fetched body gave: its observations and, for an index, what of it was left unread.

    ``refused`` are the documents the reach rules kept the poll from fetching (contract §2), ``failed`` those
    that failed, ``unread`` those the feed's deadline left (in the index's order); ``read`` the links read.
    ``incremental``: the body held only what was added since the last poll (a TAXII collection), so what it does
    not list has not left the feed. ``cut``: a parser stopped at the feed's ``max_entries``, so what it did not
    read has not left the feed either.
    """

    observations: list[Observation]
    listed: int = 0
    read: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: int = 0
    unread: list[str] = field(default_factory=list)
    incremental: bool = False
    truncated: bool = False  # an index listing more than MAX_DOCUMENTS: the first ones read, the rest not
    cut: bool = False
    # A bulk list read for storing (:func:`stored_sifted`): every entry as stored, ``observations`` holding only
    # those the index ``sifted_by`` yields something for.
    rows: csvfeed.StoredRows | None = None
    sifted_by: MatchIndex | None = None

    @property
    def entries(self) -> int:
        """How many entries the documents read list."""
        return len(self.observations) if self.rows is None else len(self.rows)

    @property
    def complete(self) -> bool:
        """Whether every document it had to read was read: only then may what it does not list be delisted."""
        return self.settled and not self.incremental

    @property
    def settled(self) -> bool:
        """Whether the feed was read whole (or, incremental, all that was added): only then may the validators
        move on (an ETag, a TAXII collection's last date); else the next poll reads again what this one left."""
        return not (self.failed or self.unread or self.cut or self.refused or self.truncated)


async def read_documents(
    feed: FeedConfig,
    fetcher: Fetcher,
    result: FetchResult,
    *,
    deadline: float | None = None,
    first: Iterable[str] = (),
    sift: MatchIndex | None = None,
    keep: MatchIndex | None = None,
) -> Documents:
    """Parse a fetched body; for an index (a MISP manifest, a CSAF index), fetch and parse the documents it lists.

    A document off the index's origin (and the hosts the feed allows) is refused unfetched; one that fails is
    logged and skipped; the feed fails only when every document does. ``deadline`` (the event loop's clock) ends
    the reading: what was read is kept, the rest is told as unread. The links in ``first`` are read after the
    others (those read by the previous polls of an unfinished pass: the rest of the index goes first).

    ``sift`` (a dry run, which stores nothing): a bulk list is read in bulk against that index, and only the
    entries it yields something for are built (:func:`sifted`); the findings are the same. ``keep`` (a poll that
    stores): the same, and a bulk list's every entry is kept as the store keeps it (:func:`stored_sifted`).
    """
    fmt = FORMATS[feed.format]
    # A manifest of tens of MB takes seconds to read: in a worker, like the documents it lists.
    links = await asyncio.to_thread(fmt.expand, feed.spec, result.body, result.url) if fmt.expand else None
    if links is None:
        kept = None if keep is None else await asyncio.to_thread(stored_sifted, feed.spec, result.body, keep)
        if kept is not None:
            return Documents(kept[0], incremental=not result.complete, rows=kept[1], sifted_by=keep)
        parsed = await asyncio.to_thread(_parse, feed.spec, result.body, sift)
        return Documents(parsed, incremental=not result.complete, cut=parsed.cut)
    listed = len(links)
    if listed > MAX_DOCUMENTS:
        log.warning("index lists too many documents; reading the first ones", feed=feed.id, listed=listed)
        links = links[:MAX_DOCUMENTS]
    done = Documents([], listed=len(links), truncated=listed > MAX_DOCUMENTS)
    allowed: list[str] = []
    for link in links:
        if document_allowed(link, (feed.url, result.url), feed.allow_hosts):
            allowed.append(link)
        else:
            done.refused.append(public_text(redact_url(link))[:200])
    if done.refused:
        log.warning(
            "index documents refused: off the index's origin and the feed's allow_hosts",
            feed=feed.id,
            refused=len(done.refused),
            hosts=sorted({host_of(link) for link in links if link not in allowed})[:10],
        )
    before = set(first)
    allowed.sort(key=lambda link: link in before)  # stable: the index's order within each part
    gate = asyncio.Semaphore(DOCUMENT_CONCURRENCY)

    async def one(link: str) -> Entries:
        async with gate:
            doc = await fetcher.fetch(replace(feed, url=link), Validators(None, None), inside=result.inside)
        return await asyncio.to_thread(_parse, feed.spec, doc.body, sift)

    tasks = [asyncio.ensure_future(one(link)) for link in allowed]
    try:
        if tasks:
            timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
            await asyncio.wait(tasks, timeout=timeout)
    finally:
        for task in tasks:
            task.cancel()  # those the deadline left: fetched again by the next poll, first
        await asyncio.gather(*tasks, return_exceptions=True)
    errors: list[str] = []
    for link, task in zip(allowed, tasks, strict=True):
        if not task.done() or task.cancelled():
            done.unread.append(link)
            continue
        outcome = task.exception()
        if isinstance(outcome, FeedError):
            # The document's path is the index's choice: the message names its host (contract §2, "Reach").
            errors.append(str(outcome).replace(redact_url(link), f"a document on {host_of(link)}"))
            log.warning(
                "feed document failed", feed=feed.id, document=public_text(redact_url(link))[:200], error=errors[-1]
            )
        elif outcome is not None:
            raise outcome
        else:
            done.read.append(link)
            done.cut = done.cut or task.result().cut
            done.observations.extend(task.result())
    if len(done.observations) > feed.max_entries:  # the cap holds for the whole index, not per document
        del done.observations[feed.max_entries :]
        done.cut = True
    done.failed = len(errors)
    if allowed and len(errors) == len(allowed):
        raise FeedError(f"every one of the {len(allowed)} documents listed failed; first: {errors[0]}")
    if links and not allowed:
        raise FeedError(
            f"every one of the {len(links)} documents listed is off the index's origin and the feed's allow_hosts; "
            "name the hosts the feed may fetch from in its 'allow_hosts'"
        )
    return done


def deadline_passed(feed: FeedConfig, read: int, documents: Documents | None) -> str:
    """The failure told when a feed's deadline passes before its poll is done."""
    limit = f"the feed's deadline ({_duration(feed.deadline)}) passed"
    if documents is None:
        return f"{limit} before its url answered; raise the feed's 'deadline' or 'timeout' if it is slow"
    return (
        f"{limit} after {read} of the {documents.listed} documents its index lists: what was read is kept and "
        f"nothing is resolved; the next poll reads the {len(documents.unread)} left first. Raise the feed's "
        "'deadline' if this repeats"
    )


def _duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    return f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}m"


def _parse(spec: FeedSpec, body: bytes, sift: MatchIndex | None = None) -> Entries:
    """A document's entries, at most the feed's ``max_entries`` (run in a worker thread), each title cut to
    :data:`~alertd.intake.formats.entries.MAX_TITLE`; with ``sift``, only those :func:`sifted` keeps."""
    parsed = (None if sift is None else sifted(spec, body, sift)) or parse_feed(spec, body)
    return Entries((bounded(obs) for obs in parsed), cut=parsed.cut)


def sifted(spec: FeedSpec, body: bytes, index: MatchIndex) -> Entries | None:
    """A bulk list's entries that ``index`` yields something for (a finding or a suppression), read without an
    observation per row (:func:`alertd.intake.formats.csvfeed.read_sifted`); None for a document read whole.

    Only for what stores nothing: the other entries are not built, so they cannot be stored or delisted."""
    if spec.format is not FeedFormat.CSV:
        return None
    result = csvfeed.read_sifted(spec, body, partial(v4_sifted, index))
    return None if result is None else Entries(result.observations)


def stored_sifted(spec: FeedSpec, body: bytes, index: MatchIndex) -> tuple[Entries, csvfeed.StoredRows] | None:
    """A bulk list read for a poll that stores it: the entries ``index`` yields something for, built to be matched
    (:func:`sifted`), and every entry as the store keeps it (:func:`~alertd.intake.formats.csvfeed.stored_rows`),
    without an observation per row; None for a document read whole."""
    found = sifted(spec, body, index)
    rows = None if found is None else csvfeed.stored_rows(spec, body)
    return None if found is None or rows is None else (Entries(map(bounded, found)), rows)


def cut_key(feed: str) -> str:
    """The store's meta key noting the ``max_entries`` a feed's last read stopped at ("" when it read all)."""
    return f"feed-cut:{feed}"


def cut_text(max_entries: int) -> str:
    """What a poll stopped at its feed's ``max_entries`` is told as (the CLI's line, the log, the notice)."""
    return f"cut at {max_entries} entries (max_entries)"


def suspicious_emptiness(previous: int) -> str:
    """The failure told when a document yields no entry where the feed's previous successful poll had some."""
    return (
        f"the document yields no entries where the previous successful poll had {previous}: taken as a broken "
        "document, not as every entry leaving the feed; the feed's findings stay open until it lists entries again"
    )


def poll_delay(interval: timedelta, failures: int) -> timedelta:
    """When to poll a feed again: its interval, doubled for each failure in a row (capped), plus up to 20 % jitter.

    Never sooner than the interval: a failing server is not hammered, and a feed recovering returns to its pace.
    """
    if failures <= 0:
        return interval
    cap = max(interval, POLL_BACKOFF_CAP)
    base: timedelta = min(interval * (2 ** min(failures - 1, 20)), cap)
    return base * random.uniform(1.0, 1.2)


def stale_feeds(
    config: Config, states: Sequence[FeedState], now: datetime, ages: Mapping[str, timedelta] | None = None
) -> list[tuple[str, str]]:
    """Feeds that have not been polled successfully for longer than their ``stale_after``: (feed id, why).

    A feed in ``ages`` is judged on that age (the daemon's, measured on the monotonic clock: a wall-clock step
    changes it not); any other on ``now`` minus its stored last success.
    """
    by_id = {s.feed: s for s in states}
    result = []
    for feed in config.feeds:
        state = by_id.get(feed.id)
        since = state.last_success if state else None
        if since is None:
            continue  # never polled yet: the first poll's outcome says more than staleness would
        age = ages[feed.id] if ages is not None and feed.id in ages else now - since
        if age > feed.stale_limit:
            result.append((feed.id, f"no successful poll since {since.isoformat(timespec='seconds')}"))
    return result
