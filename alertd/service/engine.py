"""The pipeline wired to the world: poll a feed, match, decide, render into the outbox, deliver.

Each method is one step the scheduler (``service``) or the CLI calls. The pure stages (parse, match, policy,
render) get their inputs from here and give their values back; the store, the fetcher and the transport are the
only I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import jinja2

from alertd.config.files import Config
from alertd.domain.errors import FeedError, PermanentDeliveryError, TemporaryDeliveryError
from alertd.domain.establishments import Establishment
from alertd.domain.feeds import FeedConfig, Validators
from alertd.domain.routing import Inhibition, Subscription
from alertd.domain.values import Alert, Finding, IndicatorType, Observation, Product
from alertd.intake.fetch import Fetcher, FetchResult, redact_url
from alertd.intake.formats import FORMATS
from alertd.match.benign import Allowlist
from alertd.match.index import MatchIndex, MatchResult
from alertd.outbox.signing import Signer, SigningError
from alertd.outbox.store import Delivery, FeedState, QueuedAlert, Store, observation_from_json
from alertd.outbox.transports import Transport
from alertd.policy import decide as policy
from alertd.render.email import render_email
from alertd.render.environment import make_environment
from alertd.render.notices import Problem, compose_notice
from alertd.service.logs import get_logger

log = get_logger("alertd")

MAX_ATTEMPTS = 12
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=2)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PollReport:
    feed: str
    ok: bool = True
    not_modified: bool = False
    observations: int = 0
    new: int = 0
    delisted: int = 0
    findings: int = 0
    suppressed: int = 0
    alerts: int = 0
    error: str | None = None
    consecutive_failures: int = 0
    inhibited: int = 0
    suppressed_by_list: dict[str, int] = field(default_factory=dict)
    alerts_by_severity: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    left_to_other: bool = False  # another alertd process holds the outbox: it sends


class Engine:
    """One configuration's pipeline. ``reload`` swaps the configuration and the match index whole."""

    def __init__(self, config: Config, store: Store) -> None:
        self.on_send: Callable[[str, float], None] | None = None  # (sent | deferred | failed, seconds)
        self.store = store
        self.config = config
        self.index = make_index(config)
        self.templates = make_environment(config.settings.templates_dir)
        self.signer = make_signer(config)
        self.drop_orphans()

    def reload(self, config: Config) -> None:
        """Adopt a new, already validated configuration (index and templates built before the swap)."""
        self.adopt(prepare(config))

    def adopt(self, prepared: Prepared) -> None:
        """Swap in what :func:`prepare` built, all at once (from the event loop: no poll sees half of it)."""
        self.config, self.index, self.templates, self.signer = prepared
        self.drop_orphans()

    def drop_orphans(self) -> None:
        """Forget queued alerts whose subscription or establishment the configuration no longer has.

        Their findings then count as never told, so the next match queues them again under the current rules
        instead of leaving them waiting forever for a digest that no longer exists.
        """
        dropped = self.store.drop_queued_alerts_except(
            [s.name for s in self.config.subscriptions], list(self.config.registry.establishments)
        )
        if dropped:
            log.warning("queued alerts of removed subscriptions or establishments dropped", alerts=dropped)

    # -- polling ----------------------------------------------------------------------------------------

    def match(self, observations: Sequence[Observation]) -> MatchResult:
        """Match observations; CVEs without a product are looked up in the catalogues polled so far."""
        return self.index.match(observations, self._cve_products(observations))

    async def match_off_loop(self, observations: Sequence[Observation]) -> MatchResult:
        """:meth:`match` with the matching itself in a worker thread (the index is an immutable snapshot), so a
        large feed does not hold up the event loop; the store is read here, on the loop."""
        return await asyncio.to_thread(self.index.match, observations, self._cve_products(observations))

    def _cve_products(self, observations: Sequence[Observation]) -> Mapping[str, Sequence[Product]] | None:
        bare = any(not o.products and any(i.type is IndicatorType.CVE for i in o.indicators) for o in observations)
        return self.store.cve_products() if bare else None

    async def poll(self, feed: FeedConfig, fetcher: Fetcher, now: datetime | None = None) -> PollReport:
        """Fetch, parse, record and match one feed, and queue the alerts policy decides on."""
        report = PollReport(feed.id)
        flog = log.bind(feed=feed.id)
        state = self.store.feed_state(feed.id)
        try:
            result = await fetcher.fetch(feed, state.validators)
            observations = None if result.not_modified else await read_documents(feed, fetcher, result.body, result.url)
        except FeedError as exc:
            return self._failed(feed, report, str(exc), now)
        except Exception as exc:  # a parser bug must not take the other feeds, or the daemon, down with it
            flog.exception("feed parser crashed")
            return self._failed(feed, report, f"internal error while reading the feed: {exc!r}", now)

        try:
            return await self._record(feed, report, result, observations, now or utcnow())
        except Exception as exc:  # a store or matching failure fails this poll, not the cycle or the daemon
            flog.exception("feed processing failed")
            return self._failed(feed, report, f"internal error while processing the feed: {exc!r}", now)

    async def _record(
        self,
        feed: FeedConfig,
        report: PollReport,
        result: FetchResult,
        observations: list[Observation] | None,
        now: datetime,
    ) -> PollReport:
        """Store a fetched feed's entries, match them and queue what policy decides."""
        flog = log.bind(feed=feed.id)
        if observations is None:
            self.store.record_fetch(feed.id, now, result.validators, None)
            report.not_modified = True
            # Still listed: what the feed said is evaluated again, so a finding whose re-notification interval
            # has passed is told again, and its last sighting moves on, without parsing anything.
            report.alerts = await self.rematch(now, feed.id)
            flog.info("feed not modified", alerts=report.alerts)
            return report
        delta = self.store.save_observations(feed.id, observations, now)
        matched = await self.match_off_loop(observations)
        inhibited, alerts = self._queue(matched, now)
        self.store.record_fetch(feed.id, now, result.validators, len(observations))
        report.observations, report.new, report.delisted = len(observations), delta.new, delta.delisted
        report.findings, report.suppressed, report.alerts = len(matched.findings), len(matched.suppressed), len(alerts)
        report.inhibited = len(inhibited)
        report.suppressed_by_list = dict(Counter(s.list for s in matched.suppressed))
        if inhibited:
            report.suppressed_by_list["inhibition"] = len(inhibited)
        report.alerts_by_severity = dict(Counter(a.severity.label for a in alerts))
        flog.info(
            "feed polled",
            observations=len(observations),
            new=delta.new,
            changed=delta.changed,
            delisted=delta.delisted,
            findings=len(matched.findings),
            suppressed=len(matched.suppressed),
            alerts=len(alerts),
        )
        return report

    def _failed(self, feed: FeedConfig, report: PollReport, error: str, now: datetime | None) -> PollReport:
        failures = self.store.record_failure(feed.id, now or utcnow(), error)
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
            observations = await asyncio.to_thread(decode_observations, bodies)
            queued += len(self._queue(await self.match_off_loop(observations), now)[1])
        if feed is None:
            log.info("registry re-matched against listed entries", alerts=queued)
        return queued

    def _queue(self, matched: MatchResult, now: datetime) -> tuple[list[tuple[Finding, Inhibition]], list[Alert]]:
        """Hold back what inhibitions say, queue what policy decides, record the findings (no await between
        deciding and recording, so concurrent polls never queue one finding twice)."""
        inhibited = self.inhibit(matched, now)
        alerts = self.decide(matched, now)
        self.store.save_findings(matched.findings, alerts, now)
        return inhibited, alerts

    def inhibit(self, matched: MatchResult, now: datetime) -> list[tuple[Finding, Inhibition]]:
        """Take the findings an inhibition holds back out of ``matched.findings``; return them with it."""
        rules = self.config.inhibitions
        if not rules:
            return []
        today = now.astimezone(self.config.settings.timezone).date()
        kept: list[Finding] = []
        held: list[tuple[Finding, Inhibition]] = []
        for finding in matched.findings:
            inh = policy.inhibition_for(finding, rules, today)
            if inh is None:
                kept.append(finding)
            else:
                held.append((finding, inh))
        matched.findings[:] = kept
        return held

    def decide(self, matched: MatchResult, now: datetime) -> list[Alert]:
        cfg = self.config
        return policy.decide(
            matched.findings,
            registry=cfg.registry,
            feeds={f.id: f for f in cfg.feeds},
            subscriptions=cfg.subscriptions,
            states=self.store.finding_states(f.key for f in matched.findings),
            renotify=cfg.settings.renotify,
            now=now,
        )

    # -- dispatch ---------------------------------------------------------------------------------------

    def dispatch(self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> list[int]:
        """Render one email per establishment for its queued alerts and put them in the outbox.

        ``immediate`` takes the alerts that go out at once (except those waiting for quiet hours to end);
        ``subscriptions`` takes the alerts queued for those digests.
        """
        if not immediate and not subscriptions:
            return []
        settings = self.config.settings
        subs = {s.name: s for s in self.config.subscriptions}
        local = now.astimezone(settings.timezone)
        queued = self.store.queued_alerts(immediate=immediate, subscriptions=subscriptions)
        # A digest also says, once, which findings of earlier emails their feed no longer lists.
        resolved = self.store.resolved_untold() if subscriptions else {}
        created: list[int] = []
        for est_id, items in queued.items():
            try:
                delivery = self._dispatch_one(est_id, items, subs, subscriptions, resolved, local, now)
            except Exception:  # one establishment's failure (a broken template, say) must not stop the others
                log.exception("dispatch failed; its alerts stay queued", establishment=est_id)
                continue
            if delivery is not None:
                created.append(delivery)
        return created

    def _dispatch_one(
        self,
        est_id: str,
        items: list[QueuedAlert],
        subs: Mapping[str, Subscription],
        subscriptions: Sequence[str],
        resolved: Mapping[str, list[Finding]],
        local: datetime,
        now: datetime,
    ) -> int | None:
        """One establishment's email for its queued alerts into the outbox; None when nothing is to go."""
        settings = self.config.settings
        items = [
            q
            for q in items
            if q.alert.subscription in subscriptions or not policy.held(q.alert, subs.get(q.alert.subscription), local)
        ]
        est = self.config.registry.establishments.get(est_id)
        if est is None:
            log.warning("alerts for an establishment no longer in the registry", establishment=est_id)
            return None
        if not items:
            return None
        closed = resolved.get(est_id, [])
        email = self.compose(est, items, now, closed)
        if email is None:
            log.warning("establishment has no contact for these alerts", establishment=est_id)
            return None
        msg, to = email
        if self.signer is not None:
            try:
                msg = self.signer.sign(msg)
            except SigningError as exc:
                # Never fall back to an unsigned warning: the alerts stay queued until signing works.
                log.error("signing failed; alerts stay queued", establishment=est_id, error=str(exc))
                return None
        delivery = self.store.enqueue_email(
            establishment=est_id,
            alert_ids=[q.id for q in items],
            finding_keys=[q.alert.finding.key for q in items],
            message_id=str(msg["Message-ID"]),
            sender=parseaddr(settings.sender_from)[1],
            recipients=to,
            subject=str(msg["Subject"]),
            message=msg.as_bytes(),
            now=now,
        )
        if closed:
            self.store.mark_resolved_told([f.key for f in closed], now)
        log.info("email queued", establishment=est_id, delivery=delivery, alerts=len(items), recipients=len(to))
        return delivery

    def compose(
        self, est: Establishment, items: Sequence[QueuedAlert], now: datetime, resolved: Sequence[Finding] = ()
    ) -> tuple[EmailMessage, list[str]] | None:
        """The email for some queued alerts of one establishment, and its recipients; None if nobody is to get it."""
        alerts = [q.alert for q in items]
        to = policy.recipients(est, alerts)
        if not to:
            return None
        settings = self.config.settings
        message_id = make_message_id(est.id, [q.id for q in items], settings.sender_from)
        thread = next((q.thread for q in items if q.alert.follow_up and q.thread), None)
        msg = render_email(
            self.templates,
            est,
            alerts,
            to,
            settings=settings,
            now=now,
            message_id=message_id,
            in_reply_to=thread,
            resolved=resolved,
        )
        return msg, to

    def operator_problems(self, now: datetime) -> list[Problem]:
        """Failing or stale feeds and deliveries failed for good, as the operators' notice lists them."""
        problems: list[Problem] = []
        feeds = {f.id: f for f in self.config.feeds}
        for state in self.store.feed_states():
            feed = feeds.get(state.feed)
            if feed is not None and state.consecutive_failures >= feed.failures_alert:
                problems.append(
                    Problem(
                        f"feed-failing:{feed.id}",
                        f"feed {feed.id} failing",
                        f"{state.consecutive_failures} polls in a row failed; last error: {state.last_error}",
                    )
                )
        for feed_id, why in stale_feeds(self.config, self.store.feed_states(), now):
            problems.append(Problem(f"feed-stale:{feed_id}", f"feed {feed_id} stale", why))
        for d in self.store.deliveries("failed"):
            problems.append(
                Problem(
                    f"delivery-failed:{d.id}",
                    f"delivery {d.id} failed",
                    f"to {', '.join(d.recipients)} ({d.establishment}), {d.subject!r}: {d.last_error}",
                )
            )
        return problems

    def notify_operators(self, now: datetime) -> int | None:
        """Queue one notice with the problems not yet told today; the outbox delivers it like any email."""
        settings = self.config.settings
        if not settings.operators:
            return None
        today = now.astimezone(settings.timezone).date().isoformat()
        fresh = [p for p in self.operator_problems(now) if self.store.meta(f"notice:{p.key}") != today]
        if not fresh:
            return None
        stamp = int(now.timestamp())
        keys = [int(hashlib.sha256(p.key.encode()).hexdigest()[:8], 16) for p in fresh]
        message_id = make_message_id("operators", [*keys, stamp], settings.sender_from)
        msg = compose_notice(
            fresh,
            sender=settings.sender_from,
            operators=settings.operators,
            organisation=settings.organisation,
            now=now,
            message_id=message_id,
        )
        delivery = self.store.enqueue_email(
            establishment="(operators)",
            alert_ids=[],
            finding_keys=[],
            message_id=message_id,
            sender=parseaddr(settings.sender_from)[1],
            recipients=list(settings.operators),
            subject=str(msg["Subject"]),
            message=msg.as_bytes(),
            now=now,
        )
        for p in fresh:
            self.store.set_meta(f"notice:{p.key}", today)
        log.warning("operator notice queued", delivery=delivery, problems=[p.summary for p in fresh])
        return delivery

    async def flush(self, transport: Transport, now: datetime | None = None) -> FlushReport:
        """Try every due delivery once, as many at a time as the transport allows (contract §4)."""
        report = FlushReport()
        if not self.store.claim_sender():
            log.info("another alertd process is sending the outbox; it will deliver what was queued")
            report.left_to_other = True
            return report
        gate = asyncio.Semaphore(max(1, getattr(transport, "concurrency", 1)))
        now = now or utcnow()

        async def one(d: Delivery) -> None:
            async with gate:
                await self._deliver(d, transport, report, now)

        await asyncio.gather(*(one(d) for d in self.store.due_deliveries(now)))
        return report

    async def _deliver(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> None:
        started = time.monotonic()
        outcome = await self._attempt(d, transport, report, now)
        if self.on_send is not None:
            self.on_send(outcome, time.monotonic() - started)

    async def _attempt(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> str:
        """One attempt: sent only once the server accepted it; temporary failures retried with back-off."""
        dlog = log.bind(delivery=d.id, establishment=d.establishment)
        self.store.mark_sending(d.id)
        try:
            result = await transport.send(self.store.message(d.id), d.sender, d.recipients)
        except TemporaryDeliveryError as exc:
            if d.attempts + 1 >= MAX_ATTEMPTS:
                self.store.mark_failed(d.id, f"gave up after {d.attempts + 1} attempts: {exc}")
                report.failed += 1
                dlog.error("delivery failed", error=str(exc), attempts=d.attempts + 1)
            else:
                retry_at = now + backoff(d.attempts + 1)
                self.store.mark_retry(d.id, str(exc), retry_at)
                report.retrying += 1
                dlog.warning("delivery deferred", error=str(exc), retry_at=retry_at.isoformat())
            report.errors.append(str(exc))
            return "deferred"
        except PermanentDeliveryError as exc:
            self.store.mark_failed(d.id, str(exc))
            report.failed += 1
            report.errors.append(str(exc))
            dlog.error("delivery failed", error=str(exc))
            return "failed"
        report.sent += 1
        if not result.refused:
            self.store.mark_sent(d.id, utcnow())
            dlog.info("delivery sent", via=transport.describe(), recipients=len(d.recipients))
            return "sent"
        # The message reached some recipients. Those refused for now get a delivery of their own, retried later
        # with the same Message-ID; those refused for good a failed one. All in the transaction that marks it sent.
        later = [r for r, (code, _) in result.refused.items() if 400 <= code < 500]
        never = [r for r in result.refused if r not in later]
        why = "; ".join(f"{r}: {code} {text}" for r, (code, text) in result.refused.items())
        retry, failed = self.store.mark_partly_sent(d.id, utcnow(), later, never, why, now + backoff(1))
        dlog.info("delivery sent", via=transport.describe(), recipients=len(d.recipients) - len(result.refused))
        if retry is not None:
            dlog.warning("recipients deferred", recipients=later, retry_delivery=retry, error=why)
            report.retrying += 1
        if failed is not None:
            dlog.error("recipients refused", recipients=never, failed_delivery=failed, error=why)
            report.failed += 1
            report.errors.append(why)
        return "sent"


def decode_observations(bodies: Sequence[str]) -> list[Observation]:
    """Stored entries back into observations (run in a worker thread for large feeds)."""
    return [observation_from_json(body) for body in bodies]


MAX_DOCUMENTS = 2000
DOCUMENT_CONCURRENCY = 4


async def read_documents(feed: FeedConfig, fetcher: Fetcher, body: bytes, url: str) -> list[Observation]:
    """Parse a fetched body; for an index (a MISP manifest, a CSAF index), fetch and parse the documents it lists.

    A document that fails is logged and skipped; the feed fails only when every document does.
    """
    fmt = FORMATS[feed.format]
    links = fmt.expand(feed.spec, body, url) if fmt.expand else None
    if links is None:
        return await asyncio.to_thread(fmt.parse, feed.spec, body)
    if len(links) > MAX_DOCUMENTS:
        log.warning("index lists too many documents; reading the first ones", feed=feed.id, listed=len(links))
        links = links[:MAX_DOCUMENTS]
    gate = asyncio.Semaphore(DOCUMENT_CONCURRENCY)

    async def one(link: str) -> list[Observation]:
        async with gate:
            doc = await fetcher.fetch(replace(feed, url=link), Validators(None, None))
        return await asyncio.to_thread(fmt.parse, feed.spec, doc.body)

    results = await asyncio.gather(*(one(link) for link in links), return_exceptions=True)
    observations: list[Observation] = []
    errors: list[BaseException] = []
    for link, outcome in zip(links, results, strict=True):
        if isinstance(outcome, FeedError):
            errors.append(outcome)
            log.warning("feed document failed", feed=feed.id, document=redact_url(link), error=str(outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            observations.extend(outcome)
    if links and len(errors) == len(links):
        raise FeedError(f"every one of the {len(links)} documents listed failed; first: {errors[0]}")
    return observations


POLL_BACKOFF_CAP = timedelta(hours=6)


Prepared = tuple[Config, MatchIndex, jinja2.Environment, "Signer | None"]


def prepare(config: Config) -> Prepared:
    """Everything a configuration needs built before it can serve; slow for a national registry, so a reload
    runs it in a worker thread and then :meth:`Engine.adopt` swaps it in."""
    return config, make_index(config), make_environment(config.settings.templates_dir), make_signer(config)


def make_index(config: Config) -> MatchIndex:
    """The match index of a configuration: its registry, the default benign lists and its allowlist."""
    allowlist = Allowlist.from_entries(config.allowlist) if config.allowlist else None
    return MatchIndex(config.registry, allowlist=allowlist)


def make_signer(config: Config) -> Signer | None:
    """The PGP/MIME signer the settings ask for, or None; SigningError when its key cannot be used."""
    signing = config.settings.signing
    if signing is None:
        return None
    passphrase = None
    if signing.passphrase_file is not None:
        try:
            passphrase = signing.passphrase_file.read_text().rstrip("\n")
        except OSError as exc:
            raise SigningError(
                f"cannot read the signing passphrase file {signing.passphrase_file}: {exc.strerror}"
            ) from None
    return Signer(signing.gnupg_home, signing.key, passphrase)


def poll_delay(interval: timedelta, failures: int) -> timedelta:
    """When to poll a feed again: its interval, doubled for each failure in a row (capped), plus up to 20 % jitter.

    Never sooner than the interval: a failing server is not hammered, and a feed recovering returns to its pace.
    """
    if failures <= 0:
        return interval
    cap = max(interval, POLL_BACKOFF_CAP)
    base: timedelta = min(interval * (2 ** min(failures - 1, 20)), cap)
    return base * random.uniform(1.0, 1.2)


def stale_feeds(config: Config, states: Sequence[FeedState], now: datetime) -> list[tuple[str, str]]:
    """Feeds that have not been polled successfully for longer than their ``stale_after``: (feed id, why)."""
    by_id = {s.feed: s for s in states}
    result = []
    for feed in config.feeds:
        state = by_id.get(feed.id)
        since = state.last_success if state else None
        if since is None:
            continue  # never polled yet: the first poll's outcome says more than staleness would
        if now - since > feed.stale_limit:
            result.append((feed.id, f"no successful poll since {since.isoformat(timespec='seconds')}"))
    return result


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min … capped at 2 h, each ±25 %."""
    base: timedelta = min(RETRY_BASE * (2 ** (attempt - 1)), RETRY_CAP)
    return base * random.uniform(0.75, 1.25)


_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def make_message_id(establishment: str, alert_ids: Sequence[int], sender: str) -> str:
    """A Message-ID fixed when the email enters the outbox, so every retry carries the same one."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "alertd.invalid"
    digest = hashlib.sha256(",".join(map(str, alert_ids)).encode()).hexdigest()[:16]
    return f"<alertd.{_UNSAFE.sub('-', establishment)}.{digest}@{_UNSAFE.sub('-', domain)}>"
