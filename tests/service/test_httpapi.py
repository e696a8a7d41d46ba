"""``/healthz`` and ``/metrics`` served for real on loopback, including a stalled event loop seen from outside."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import prometheus_client
import pytest
import structlog
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from alertd import __version__
from alertd.config.common import parse_listen
from alertd.domain.delivery import DeliveryState, SendOutcome
from alertd.domain.errors import AlertdError
from alertd.service import logs
from alertd.service.httpapi import HealthServer, HealthSnapshot, HttpListenError
from alertd.service.metrics import Metrics

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class State:
    """Shaped like ``store.FeedState`` where ``HealthSnapshot`` reads it."""

    feed: str
    last_success: datetime | None
    consecutive_failures: int = 0
    last_error: str | None = None


@dataclass
class Served:
    server: HealthServer
    snapshot: HealthSnapshot
    metrics: Metrics

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return fetch(self.server.url + path, headers=headers)


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams: dict[str, Metric], family: str, name: str, **labels: str) -> float:
    values = [s.value for s in fams[family].samples if s.name == name and s.labels == labels]
    assert len(values) == 1, (name, labels, fams[family].samples)
    return float(values[0])


def make_snapshot() -> HealthSnapshot:
    snapshot = HealthSnapshot()
    snapshot.update(
        [
            State("cisa-kev", NOW - timedelta(minutes=5)),
            State("certfr", None, consecutive_failures=3, last_error="HTTP 503 from https://cert.example/feed"),
            State("retired", NOW - timedelta(days=30)),
        ],
        {DeliveryState.PENDING: 2, DeliveryState.SENDING: 1, DeliveryState.SENT: 40},
        configured=["cisa-kev", "certfr", "urlhaus"],
    )
    return snapshot


@pytest.fixture
def served() -> Iterator[Served]:
    snapshot = make_snapshot()
    metrics = Metrics(snapshot.last_success, snapshot.outbox, clock=lambda: NOW.timestamp())
    with HealthServer("127.0.0.1:0", snapshot, metrics) as server:
        yield Served(server, snapshot, metrics)


def test_healthz_reports_feeds_and_outbox(served: Served) -> None:
    assert served.server.port > 0
    status, headers, body = served.get("/healthz")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    data = json.loads(body)
    assert data["status"] == "ok"
    assert data["feeds"] == {
        "cisa-kev": {"last_success": "2026-03-01T11:55:00+00:00", "consecutive_failures": 0, "last_error": None},
        "certfr": {
            "last_success": None,
            "consecutive_failures": 3,
            "last_error": "HTTP 503 from https://cert.example/feed",
        },
        "urlhaus": {"last_success": None, "consecutive_failures": 0, "last_error": None},  # configured, not polled
    }
    assert data["outbox"] == {"pending": 2, "sending": 1, "sent": 40, "failed": 0}
    assert 0 <= data["loop_lag_seconds"] < 5


def test_metrics_in_prometheus_text(served: Served) -> None:
    m = served.metrics
    m.set_feeds(["cisa-kev", "certfr", "urlhaus"])
    m.poll_done(
        "cisa-kev",
        ok=True,
        observations=1200,
        findings=3,
        suppressed_by_list={"allowlist": 2, "inhibitions": 1},
        alerts_by_severity={"critical": 1, "high": 2},
    )
    m.poll_done("cisa-kev", ok=True, not_modified=True)
    m.poll_done("certfr", ok=False)
    m.poll_done("certfr", ok=False)
    m.send_done(SendOutcome.SENT, 0.2)
    m.send_done(SendOutcome.SENT, 3.0)
    m.send_done(SendOutcome.DEFERRED, 30.5)

    status, headers, body = served.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    f = families(body.decode())

    polls = "alertd_feed_polls"
    assert sample(f, polls, "alertd_feed_polls_total", feed="cisa-kev", outcome="ok") == 1
    assert sample(f, polls, "alertd_feed_polls_total", feed="cisa-kev", outcome="not_modified") == 1
    assert sample(f, polls, "alertd_feed_polls_total", feed="certfr", outcome="failed") == 2
    assert sample(f, polls, "alertd_feed_polls_total", feed="urlhaus", outcome="ok") == 0  # declared at zero
    assert sample(f, "alertd_observations", "alertd_observations_total", feed="cisa-kev") == 1200
    assert sample(f, "alertd_findings", "alertd_findings_total", feed="cisa-kev") == 3
    assert sample(f, "alertd_suppressed", "alertd_suppressed_total", feed="cisa-kev", list="allowlist") == 2
    assert sample(f, "alertd_suppressed", "alertd_suppressed_total", feed="cisa-kev", list="inhibitions") == 1
    assert sample(f, "alertd_alerts", "alertd_alerts_total", severity="high") == 2
    assert sample(f, "alertd_alerts", "alertd_alerts_total", severity="critical") == 1
    assert sample(f, "alertd_alerts", "alertd_alerts_total", severity="info") == 0  # every severity from the start

    # Ages are computed at scrape time from the snapshot; a feed that never succeeded is infinitely old.
    age = "alertd_feed_last_success_age_seconds"
    assert sample(f, age, age, feed="cisa-kev") == 300
    assert math.isinf(sample(f, age, age, feed="certfr"))
    stamp = "alertd_feed_last_success_timestamp_seconds"
    assert sample(f, stamp, stamp, feed="cisa-kev") == (NOW - timedelta(minutes=5)).timestamp()
    assert {s.labels["feed"] for s in f[stamp].samples} == {"cisa-kev"}

    assert sample(f, "alertd_deliveries", "alertd_deliveries", state="pending") == 2
    assert sample(f, "alertd_deliveries", "alertd_deliveries", state="failed") == 0
    assert sample(f, "alertd_outbox_depth", "alertd_outbox_depth") == 3

    latency = "alertd_send_duration_seconds"
    assert f[latency].type == "histogram"
    assert sample(f, latency, latency + "_count", outcome="sent") == 2
    assert sample(f, latency, latency + "_sum", outcome="sent") == pytest.approx(3.2)
    assert sample(f, latency, latency + "_bucket", outcome="sent", le="1.0") == 1
    assert sample(f, latency, latency + "_count", outcome="failed") == 0

    assert sample(f, "alertd_up", "alertd_up") == 1
    info = [s for s in f["alertd_build_info"].samples if s.name == "alertd_build_info"]
    assert info[0].labels["version"] == __version__
    assert sample(f, "process_resident_memory_bytes", "process_resident_memory_bytes") > 0
    # Read without /proc/stat (hidden by the unit's ProcSubset=pid), yet the same as the library's own collector.
    ours = sample(f, "process_start_time_seconds", "process_start_time_seconds")
    reference = families(prometheus_client.generate_latest(prometheus_client.REGISTRY).decode())
    assert ours == pytest.approx(sample(reference, "process_start_time_seconds", "process_start_time_seconds"), abs=2)


def test_snapshot_changes_show_at_the_next_scrape(served: Served) -> None:
    served.snapshot.update([State("cisa-kev", NOW)], {DeliveryState.PENDING: 0, DeliveryState.FAILED: 4})
    f = families(served.get("/metrics")[2].decode())
    age = "alertd_feed_last_success_age_seconds"
    assert sample(f, age, age, feed="cisa-kev") == 0
    assert sample(f, "alertd_deliveries", "alertd_deliveries", state="failed") == 4
    assert sample(f, "alertd_outbox_depth", "alertd_outbox_depth") == 0
    assert json.loads(served.get("/healthz")[2])["outbox"]["failed"] == 4


def test_openmetrics_when_asked(served: Served) -> None:
    status, headers, body = served.get("/metrics", Accept="application/openmetrics-text; version=1.0.0")
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def test_a_removed_feed_loses_its_series(served: Served) -> None:
    m = served.metrics
    m.set_feeds(["cisa-kev", "certfr"])
    m.poll_done("certfr", ok=True, suppressed_by_list={"allowlist": 1})
    m.set_feeds(["cisa-kev"])
    text = served.get("/metrics")[2].decode()
    assert 'feed="certfr",outcome' not in text
    assert 'alertd_suppressed_total{feed="certfr"' not in text
    assert 'alertd_feed_polls_total{feed="cisa-kev",outcome="ok"} 0.0' in text


def test_metrics_stay_out_of_the_global_registry() -> None:
    snapshot = HealthSnapshot()
    Metrics(snapshot.last_success, snapshot.outbox)
    Metrics(snapshot.last_success, snapshot.outbox)  # a second instance (a test, a reload) must not clash
    assert "alertd_up" not in prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()


def test_unknown_send_outcome_is_refused() -> None:
    snapshot = HealthSnapshot()
    with pytest.raises(ValueError, match="unknown send outcome"):
        Metrics(snapshot.last_success, snapshot.outbox).send_done("bounced", 1.0)  # type: ignore[arg-type]  # a wrong label is refused at run time too


def test_stalled_loop_is_503_and_recovers() -> None:
    """Block the event loop as a stuck call would; the HTTP thread must notice from outside."""
    snapshot = make_snapshot()
    metrics = Metrics(snapshot.last_success, snapshot.outbox)
    server = HealthServer("127.0.0.1:0", snapshot, metrics, stale_after=0.3, beat_interval=0.05)
    seen: dict[str, tuple[int, bytes]] = {}

    def probe_while_blocked() -> None:
        time.sleep(0.6)  # past stale_after, while the loop sleeps in time.sleep below
        seen["healthz"] = fetch(server.url + "/healthz")[::2]
        seen["metrics"] = fetch(server.url + "/metrics")[::2]

    async def scenario() -> None:
        beat = asyncio.create_task(server.beat_forever())
        await asyncio.sleep(0.2)
        seen["before"] = (await asyncio.to_thread(fetch, server.url + "/healthz"))[::2]
        prober = threading.Thread(target=probe_while_blocked)
        prober.start()
        time.sleep(1.0)  # the point: a blocking call holds the loop
        await asyncio.sleep(0.2)
        seen["after"] = (await asyncio.to_thread(fetch, server.url + "/healthz"))[::2]
        prober.join()
        beat.cancel()

    with server:
        asyncio.run(scenario())

    assert seen["before"][0] == 200
    status, body = seen["healthz"]
    assert status == 503
    data = json.loads(body)
    assert data["status"] == "stalled"
    assert data["loop_lag_seconds"] >= 0.3
    assert set(data["feeds"]) == {"cisa-kev", "certfr", "urlhaus"}  # the same JSON, still useful
    f = families(seen["metrics"][1].decode())
    assert seen["metrics"][0] == 200  # a scrape still succeeds; alertd_up says the loop is stuck
    assert sample(f, "alertd_up", "alertd_up") == 0
    assert sample(f, "alertd_event_loop_lag_seconds", "alertd_event_loop_lag_seconds") >= 0.3
    assert seen["after"][0] == 200


def test_no_heartbeat_at_all_is_503() -> None:
    snapshot = HealthSnapshot()
    server = HealthServer("127.0.0.1:0", snapshot, Metrics(snapshot.last_success, snapshot.outbox), stale_after=0.1)
    with server:
        time.sleep(0.3)
        status, _, body = fetch(server.url + "/healthz")
        assert (status, json.loads(body)["status"]) == (503, "stalled")
        server.heartbeat()
        assert fetch(server.url + "/healthz")[0] == 200


def test_other_paths_and_methods(served: Served) -> None:
    for path in ("/", "/healthz/extra", "/metrics.json", "/../etc/passwd"):
        assert served.get(path)[0] == 404, path
    assert served.get("/healthz?verbose=1")[0] == 200
    status, headers, body = fetch(served.server.url + "/healthz", method="HEAD")
    assert status == 200
    assert int(headers["Content-Length"]) > 0
    assert body == b""
    status, headers, _ = fetch(served.server.url + "/metrics", method="POST")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_a_taken_port_is_a_clear_error(served: Served) -> None:
    other = HealthServer(f"127.0.0.1:{served.server.port}", served.snapshot, served.metrics)
    with pytest.raises(HttpListenError, match="already in use") as caught:
        other.start()
    assert isinstance(caught.value, AlertdError)
    assert f"127.0.0.1:{served.server.port}" in str(caught.value)
    assert served.get("/healthz")[0] == 200  # the first server is unharmed


def test_an_address_not_on_this_machine_is_a_clear_error() -> None:
    snapshot = HealthSnapshot()
    server = HealthServer("192.0.2.1:9108", snapshot, Metrics(snapshot.last_success, snapshot.outbox))
    with pytest.raises(HttpListenError, match="no such address"):
        server.start()


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    snapshot = make_snapshot()
    with HealthServer("[::1]:0", snapshot, Metrics(snapshot.last_success, snapshot.outbox)) as server:
        assert server.address[0] == "::1"
        assert server.url.startswith("http://[::1]:")
        assert fetch(server.url + "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("[::1]:9108", ("::1", 9108)),
        (" localhost:0 ", ("localhost", 0)),
        ("0.0.0.0:9108", ("0.0.0.0", 9108)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9108", ":9108", "::1:9108", "[::1]9108", "[::1", "host:http", "host:65536", "h:-1"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"http\.listen"):
        parse_listen(text)


def test_a_malformed_listen_is_an_alertd_error() -> None:
    snapshot = HealthSnapshot()
    with pytest.raises(HttpListenError, match="host:port"):
        HealthServer("9108", snapshot, Metrics(snapshot.last_success, snapshot.outbox)).start()


def test_a_failing_snapshot_is_a_500_not_a_dead_thread(served: Served) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("snapshot bug")

    served.server.snapshot = broken
    assert served.get("/healthz")[0] == 500
    served.server.snapshot = served.snapshot
    assert served.get("/healthz")[0] == 200


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """alertd's real logging, at debug level, into a buffer standing for stderr; the defaults come back afterwards."""
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", buffer)
        logs.configure("debug", json=True)
    yield buffer
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level


def test_secrets_in_requests_never_reach_the_logs(json_logs: io.StringIO) -> None:
    secret = "s3cr3t-Tok3n-do-not-log"
    snapshot = make_snapshot()
    with HealthServer("127.0.0.1:0", snapshot, Metrics(snapshot.last_success, snapshot.outbox)) as server:
        fetch(f"{server.url}/metrics?token={secret}", headers={"Authorization": f"Bearer {secret}"})
        fetch(f"{server.url}/nowhere?password={secret}")
        fetch(f"{server.url}/healthz?{secret}", method="POST")
        with socket.create_connection(server.address, timeout=5) as raw:  # a request line the stdlib refuses
            raw.sendall(f"GET /{secret} HTTP/1.1 trailing-garbage\r\n\r\n".encode())
            assert b"400" in raw.recv(4096)
    err = json_logs.getvalue()
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [e for e in events if e["event"] == "http request"]
    assert {(e["path"], e["status"]) for e in requests} >= {("/metrics", 200), ("/nowhere", 404), ("/healthz", 405)}
    assert any(e["event"] == "http request refused" for e in events)
    assert secret not in err
