"""Prometheus metrics for ``/metrics``, with the official client library, in a registry of alertd's own.

Counters and the send-latency histogram are updated from the event loop (``poll_done``, ``send_done``); the
gauges that describe state (last success per feed, deliveries by state, outbox depth) are computed at scrape time
from callables. Scrapes run in the HTTP server's thread, so those callables must return a snapshot the loop keeps
up to date (see ``httpapi.HealthSnapshot``), never query SQLite themselves.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from alertd import __version__
from alertd.domain.delivery import DeliveryState, SendOutcome
from alertd.domain.polling import PollOutcome
from alertd.domain.values import SEVERITY_NAMES, Severity

# From a local Maildir write (milliseconds) to a slow SMTP relay with STARTTLS (tens of seconds, then a timeout).
SEND_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

FeedStates = Callable[[], Mapping[str, datetime | None]]
OutboxCounts = Callable[[], Mapping[DeliveryState, int]]
WorkAges = Callable[[], Mapping[str, float | None]]
StoreState = Callable[[], Mapping[str, Any]]  # {"writable": bool, "write_errors": int, ...}
FeedFailures = Callable[[], Mapping[str, int]]


class _VitalsCollector:
    """What the process holds in memory, read at scrape time: whether the store can be written, its write errors
    since start, and each feed's failed polls in a row (counted even when the store could not record them)."""

    def __init__(self, store_state: StoreState, feed_failures: FeedFailures) -> None:
        self.store_state = store_state
        self.feed_failures = feed_failures

    def _families(self) -> tuple[GaugeMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("alertd_store_writable", "1 while the last write to the state store succeeded, else 0"),
            CounterMetricFamily(
                "alertd_store_write_errors", "Writes to the state store that failed (a full disk, say) since start"
            ),
            GaugeMetricFamily(
                "alertd_feed_consecutive_failures",
                "Failed polls of the feed in a row, as this process saw them",
                labels=["feed"],
            ),
        )

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the snapshot callables now."""
        writable, errors, failures = self._families()
        store = self.store_state()
        writable.add_metric([], 0 if store.get("writable") is False else 1)
        errors.add_metric([], int(store.get("write_errors", 0)))
        for feed, n in sorted(self.feed_failures().items()):
            failures.add_metric([feed], n)
        return (writable, errors, failures)


class _StateCollector:
    """The gauges read at scrape time: last success per feed, deliveries by state, outbox depth."""

    def __init__(self, feed_states: FeedStates, outbox_counts: OutboxCounts, clock: Callable[[], float]) -> None:
        self.feed_states = feed_states
        self.outbox_counts = outbox_counts
        self.clock = clock

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "alertd_feed_last_success_timestamp_seconds",
                "Unix time of the last successful poll of the feed (absent until one succeeds)",
                labels=["feed"],
            ),
            GaugeMetricFamily(
                "alertd_feed_last_success_age_seconds",
                "Seconds since the last successful poll of the feed (+Inf if it never succeeded)",
                labels=["feed"],
            ),
            GaugeMetricFamily("alertd_deliveries", "Deliveries in the outbox by state", labels=["state"]),
            GaugeMetricFamily("alertd_outbox_depth", "Deliveries waiting to be sent (pending and sending)"),
        )

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields, so the registry can catch clashing names without a scrape."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the snapshot callables now and turn them into gauges."""
        stamp, age, deliveries, depth = self._families()
        now = self.clock()
        for feed, last in sorted(self.feed_states().items()):
            if last is None:
                age.add_metric([feed], math.inf)
                continue
            ts = last.timestamp()
            stamp.add_metric([feed], ts)
            age.add_metric([feed], max(0.0, now - ts))
        counts = dict.fromkeys(DeliveryState, 0)
        counts.update(self.outbox_counts())
        for state, n in sorted(counts.items()):
            deliveries.add_metric([state.value], n)
        depth.add_metric([], sum(n for state, n in counts.items() if state.waiting))
        return (stamp, age, deliveries, depth)


class _WorkCollector:
    """How long ago the loop last did each kind of work (a poll started or finished, the outbox worked), on the
    monotonic clock, and whether /healthz judges any of it overdue."""

    def __init__(self, ages: WorkAges, overdue: Callable[[], bool]) -> None:
        self.ages = ages
        self.overdue = overdue

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "alertd_work_age_seconds",
                "Seconds since the loop last did this work, on the monotonic clock (+Inf if not yet)",
                labels=["work"],
            ),
            GaugeMetricFamily("alertd_work_overdue", "1 while polls or outbox flushes are overdue, else 0"),
        )

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the ages and the judgement now."""
        age, overdue = self._families()
        for work, seconds in sorted(self.ages().items()):
            age.add_metric([work], math.inf if seconds is None else seconds)
        overdue.add_metric([], 1 if self.overdue() else 0)
        return (age, overdue)


class _DeliveryCollector:
    """How long the oldest email in the outbox has waited, on the monotonic clock, and whether /healthz judges
    delivery failing (``outboxwatch.OutboxWatch``)."""

    def __init__(self, oldest_age: Callable[[], float], failing: Callable[[], bool]) -> None:
        self.oldest_age = oldest_age
        self.failing = failing

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "alertd_outbox_oldest_due_age_seconds",
                "Seconds the oldest email waiting in the outbox has waited (0 when none waits)",
            ),
            GaugeMetricFamily(
                "alertd_delivery_failing",
                "1 while an email waited past delivery.failing_after, no send accepted",
            ),
        )

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the age and the judgement now."""
        age, failing = self._families()
        age.add_metric([], self.oldest_age())
        failing.add_metric([], 1 if self.failing() else 0)
        return (age, failing)


class _EscalationCollector:
    """The warnings escalated since the store began, by severity: a counter kept in the store (contract §4)."""

    def __init__(self, counts: Callable[[], Mapping[Severity, int]]) -> None:
        self.counts = counts

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            "alertd_escalations", "Warnings sent again to the escalation contacts, unanswered", labels=["severity"]
        )

    def describe(self) -> Iterable[Metric]:
        """The family this collector yields."""
        return (self._family(),)

    def collect(self) -> Iterable[Metric]:
        """Read the counts now: every severity escalation may concern, 0 included."""
        family = self._family()
        counted = self.counts()
        for severity in Severity:
            family.add_metric([severity.label], counted.get(severity, 0))
        return (family,)


class _AckCollector:
    """The warnings sent and unanswered that escalation concerns, and those past their deadline (contract §4)."""

    def __init__(self, counts: Callable[[], tuple[int, int]]) -> None:
        self.counts = counts

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "alertd_warnings_awaiting_acknowledgement",
                "Warnings sent, of a severity escalation concerns, that no response through their link answers",
            ),
            GaugeMetricFamily(
                "alertd_warnings_escalation_due",
                "Of those, the warnings past their escalation deadline",
            ),
        )

    def describe(self) -> Iterable[Metric]:
        """The families this collector yields."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Read the counts now."""
        waiting, due = self._families()
        counted = self.counts()
        waiting.add_metric([], counted[0])
        due.add_metric([], counted[1])
        return (waiting, due)


class _ProcessCollector:
    """The standard ``process_*`` metrics without ``/proc/stat``, which the unit's ``ProcSubset=pid`` hides (the
    client library's ``ProcessCollector`` needs it for the boot time and would then export nothing)."""

    def __init__(self) -> None:
        self.page = resource.getpagesize()
        self.ticks = os.sysconf("SC_CLK_TCK")

    def describe(self) -> Iterable[Metric]:
        """Names only: the registry checks them for clashes."""
        return [GaugeMetricFamily(name, "") for name in ("process_start_time_seconds", "process_open_fds")]

    def collect(self) -> Iterable[Metric]:
        """Read ``/proc/self`` and ``getrusage`` now; what cannot be read is left out."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out: list[Metric] = [
            CounterMetricFamily(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                usage.ru_utime + usage.ru_stime,
            ),
            GaugeMetricFamily(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            ),
        ]
        try:
            stat = Path("/proc/self/stat").read_bytes().rsplit(b")", 1)[1].split()
            vsize, rss_pages = Path("/proc/self/statm").read_text().split()[:2]
            fds = sum(1 for _ in Path("/proc/self/fd").iterdir())
        except OSError:
            return out
        # Boot time from the clocks rather than /proc/stat: now minus the time since boot.
        booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        out += [
            GaugeMetricFamily(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                booted + int(stat[19]) / self.ticks,
            ),
            GaugeMetricFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.", int(vsize) * self.page),
            GaugeMetricFamily(
                "process_resident_memory_bytes", "Resident memory size in bytes.", int(rss_pages) * self.page
            ),
            GaugeMetricFamily("process_open_fds", "Number of open file descriptors.", fds),
        ]
        return out


class Metrics:
    """alertd's metrics in a dedicated ``CollectorRegistry`` (the global one stays untouched)."""

    def __init__(
        self,
        feed_states: FeedStates,
        outbox_counts: OutboxCounts,
        *,
        clock: Callable[[], float] = time.time,
        process: bool = True,
        store_state: StoreState | None = None,
        feed_failures: FeedFailures | None = None,
    ) -> None:
        """``feed_states`` gives {feed: last success or None}, ``outbox_counts`` {state: deliveries}.

        Both are called from the scraping thread. ``process`` adds the standard ``process_*`` metrics
        (memory, CPU, open files). ``store_state`` and ``feed_failures`` (``HealthSnapshot.store`` and
        ``.failures``) add the store's writability and write errors, and each feed's failures in a row.
        """
        self.registry = CollectorRegistry()
        reg = self.registry
        self._lock = threading.Lock()
        self._lists: dict[str, set[str]] = {}  # feed -> suppression lists seen, to drop a removed feed's series
        self.up = Gauge("alertd_up", "1 while the event loop is live, 0 when it is stalled", registry=reg)
        self.up.set(1)
        self.loop_lag = Gauge(
            "alertd_event_loop_lag_seconds",
            "How late the event loop's heartbeat is, as seen from outside",
            registry=reg,
        )
        build = Info("alertd_build", "Version of alertd and of the Python running it", registry=reg)
        build.info({"version": __version__, "python": platform.python_version()})
        self.polls = Counter(
            "alertd_feed_polls", "Feed polls by outcome (ok, not_modified, failed)", ["feed", "outcome"], registry=reg
        )
        self.observations = Counter(
            "alertd_observations", "Observations read from the feed (entries, indicators)", ["feed"], registry=reg
        )
        self.findings = Counter(
            "alertd_findings", "Findings: observations matched to an establishment", ["feed"], registry=reg
        )
        self.suppressed = Counter(
            "alertd_suppressed",
            "Findings set aside by an allowlist or inhibition, by the list that held them back",
            ["feed", "list"],
            registry=reg,
        )
        self.alerts = Counter("alertd_alerts", "Alerts decided by policy, by severity", ["severity"], registry=reg)
        for severity in SEVERITY_NAMES:
            self.alerts.labels(severity)
        self.send_seconds = Histogram(
            "alertd_send_duration_seconds",
            "Time to hand one delivery to the transport, by outcome (sent, deferred, failed)",
            ["outcome"],
            buckets=SEND_BUCKETS,
            registry=reg,
        )
        for outcome in SendOutcome:
            self.send_seconds.labels(outcome)  # present at zero from the start, so rate() works at once
        reg.register(_StateCollector(feed_states, outbox_counts, clock))
        if store_state is not None and feed_failures is not None:
            reg.register(_VitalsCollector(store_state, feed_failures))
        if process:
            reg.register(_ProcessCollector())

    def set_feeds(self, feeds: Iterable[str]) -> None:
        """Declare the configured feeds (at start and after a reload): their series start at zero, and the
        series of feeds no longer configured are dropped."""
        wanted = set(feeds)
        with self._lock:
            for feed in set(self._lists) - wanted:
                for outcome in PollOutcome:
                    self.polls.remove(feed, outcome)
                self.observations.remove(feed)
                self.findings.remove(feed)
                for name in self._lists.pop(feed):
                    self.suppressed.remove(feed, name)
            for feed in wanted - set(self._lists):
                self._declare(feed)

    def _declare(self, feed: str) -> None:
        """Create a feed's series at zero; the caller holds the lock."""
        if feed in self._lists:
            return
        self._lists[feed] = set()
        for outcome in PollOutcome:
            self.polls.labels(feed, outcome)
        self.observations.labels(feed)
        self.findings.labels(feed)

    def poll_done(
        self,
        feed: str,
        *,
        ok: bool,
        not_modified: bool = False,
        observations: int = 0,
        findings: int = 0,
        suppressed_by_list: Mapping[str, int] | None = None,
        alerts_by_severity: Mapping[str, int] | None = None,
    ) -> None:
        """Count one poll of ``feed`` and what it produced."""
        outcome = PollOutcome.of(ok=ok, not_modified=not_modified)
        with self._lock:
            self._declare(feed)
            self.polls.labels(feed, outcome).inc()
            self.observations.labels(feed).inc(observations)
            self.findings.labels(feed).inc(findings)
            for name, n in (suppressed_by_list or {}).items():
                self._lists[feed].add(name)
                self.suppressed.labels(feed, name).inc(n)
        for severity, n in (alerts_by_severity or {}).items():
            self.alerts.labels(severity).inc(n)

    def send_done(self, outcome: SendOutcome, seconds: float) -> None:
        """Record one delivery attempt: ``sent``, ``deferred`` (a temporary failure) or ``failed`` (permanent)."""
        if outcome not in set(SendOutcome):
            raise ValueError(f"unknown send outcome {outcome!r}; expected one of {', '.join(SendOutcome)}")
        self.send_seconds.labels(outcome).observe(seconds)

    def set_liveness(self, live: bool, lag_seconds: float) -> None:
        """What the HTTP thread judged of the event loop, just before a scrape."""
        self.up.set(1 if live else 0)
        self.loop_lag.set(lag_seconds)

    def watch_work(self, ages: WorkAges, overdue: Callable[[], bool]) -> None:
        """Serve the loop's work ages and whether it is overdue (``progress.LoopProgress``), read at scrape time."""
        self.registry.register(_WorkCollector(ages, overdue))

    def watch_delivery(self, oldest_age: Callable[[], float], failing: Callable[[], bool]) -> None:
        """Serve the oldest waiting email's age and whether delivery is failing, read at scrape time."""
        self.registry.register(_DeliveryCollector(oldest_age, failing))

    def watch_acks(self, counts: Callable[[], tuple[int, int]]) -> None:
        """Serve the unanswered warnings escalation concerns, and those past their deadline, read at scrape time."""
        self.registry.register(_AckCollector(counts))

    def watch_escalations(self, counts: Callable[[], Mapping[Severity, int]]) -> None:
        """Serve the warnings escalated, by severity, read at scrape time (``alertd_escalations_total``)."""
        self.registry.register(_EscalationCollector(counts))

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (body, content type), in OpenMetrics when the scraper's Accept header asks for it."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
