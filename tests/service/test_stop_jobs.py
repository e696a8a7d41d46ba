"""The stop's pieces: the scheduler's shutdown cuts no running job (the daemon decides), and the grace lets an
SMTP send end by its own timeout."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from configs import copy_example

from alertd.config.files import load_config
from alertd.domain.settings import DeliveryMethod, Settings, SmtpSecurity, SmtpSettings
from alertd.service.daemon import STOP_GRACE_SECONDS, JobExecutor, stop_grace


def test_a_shutdown_leaves_running_jobs_to_end_and_names_them() -> None:
    ended: list[str] = []

    async def send(name: str) -> None:
        await asyncio.sleep(0.3)
        ended.append(name)

    async def go() -> dict[str, bool]:
        jobs = JobExecutor()
        scheduler = AsyncIOScheduler(executors={"default": jobs})
        scheduler.start()
        scheduler.add_job(send, args=("outbox",), id="outbox", next_run_time=datetime.now().astimezone())
        scheduler.add_job(send, args=("poll",), id="poll:c2", next_run_time=datetime.now().astimezone())
        await asyncio.sleep(0.1)
        scheduler.shutdown(wait=False)
        running = jobs.running()
        await asyncio.wait(running, timeout=5)
        return {job: task.cancelled() for task, job in running.items()}

    assert asyncio.run(go()) == {"outbox": False, "poll:c2": False}
    assert sorted(ended) == ["outbox", "poll"]


def test_the_grace_outlasts_an_smtp_send(tmp_path: Path) -> None:
    settings = load_config(copy_example(tmp_path / "config")).settings
    assert stop_grace(settings) == STOP_GRACE_SECONDS  # a Maildir write

    def relay(timeout: float) -> Settings:
        return replace(
            settings,
            delivery_method=DeliveryMethod.SMTP,
            smtp=SmtpSettings("relay.example", 587, SmtpSecurity.STARTTLS, timeout=timeout),
        )

    assert stop_grace(relay(60.0)) == 65.0  # the send's own timeout, then recording it
    assert stop_grace(relay(5.0)) == STOP_GRACE_SECONDS
