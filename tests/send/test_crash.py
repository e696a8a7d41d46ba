"""Exactly once, in practice: kill -9 the real ``alertd`` at random moments of a 2,000-email dispatch, ten
times, restart it each time, then let it finish. Every establishment gets its warning; the only duplicates are
messages the server accepted just before a kill and alertd had not recorded yet: at most one per connection of
the pool (``delivery.smtp.pool_size``, PIPELINING on), so at most kills × pool size (contract §4)."""

from __future__ import annotations

import collections
import email
import random
import signal
import subprocess
import time
from email.policy import default
from pathlib import Path

import pytest
from configs import ALERTD, numbered_world
from http_server import FeedServer
from smtp_server import SmtpServerFactory

from alertd.send.transports import SMTP_POOL_SIZE

COUNT = 2000
KILLS = 10


def write_world(tmp: Path, feed_url: str, smtp_port: int) -> Path:
    feeds = f"feeds:\n  - {{id: c2, url: '{feed_url}', format: csv, interval: 1h, columns: {{ip: ip}}}}\n"
    return numbered_world(tmp, COUNT, feeds, smtp_port)


@pytest.mark.slow
def test_kill_nine_ten_times_loses_nothing(tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    smtp = smtp_server(tls="none")
    rng = random.Random(20261128)
    body = "ip\n" + "\n".join(f"81.{i // 250}.{i % 250}.{1 + i % 200}" for i in range(COUNT)) + "\n"
    with FeedServer() as server:
        server.route("/c2.csv", body.encode(), etag='"v1"')
        config = write_world(tmp_path, server.url("/c2.csv"), smtp.port)
        kills = 0
        delays = []
        while kills < KILLS:
            before = len(smtp.messages)
            proc = subprocess.Popen(
                [ALERTD, "--log-level", "warning", "-c", str(config), "run", "--once"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Some kills land during start-up, polling and dispatch; most while mail is flowing.
            if rng.random() < 0.3:
                delay = rng.uniform(0.2, 1.2)
            else:
                deadline = time.monotonic() + 60
                while len(smtp.messages) == before and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                delay = rng.uniform(0.0, 0.15)
            delays.append(delay)
            time.sleep(delay)
            if proc.poll() is not None:
                break  # it finished before the kill: everything is out
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        final = subprocess.run(
            [ALERTD, "--log-level", "warning", "-c", str(config), "run", "--once"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert final.returncode == 0, final.stdout + final.stderr

    received = smtp.messages
    ids = collections.Counter(str(email.message_from_bytes(m.content, policy=default)["Message-ID"]) for m in received)
    recipients = {r for m in received for r in m.rcpt_tos}
    assert recipients == {f"rssi{i}@est{i}.example" for i in range(COUNT)}, len(recipients)
    assert len(ids) == COUNT
    duplicates = sum(n - 1 for n in ids.values())
    assert kills >= 5, delays  # the test did exercise crashes mid-dispatch
    assert duplicates <= kills * SMTP_POOL_SIZE, (duplicates, kills)
    assert smtp.envelopes_pipelined > 0  # the path under test is the pipelined one
    print(f"kills={kills} received={len(received)} unique={len(ids)} duplicates={duplicates}")
