"""The store's big writes run off the event loop (issue #13 point 2): while a leak list of many posts is stored,
a coroutine ticking every 0.1 s keeps ticking. A correctness test of "off the loop", not a speed test: the bound
on the longest gap is generous."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from alertd.domain.values import FeedKind, Observation
from alertd.store.records import ObservationDelta
from alertd.store.sqlite import Store

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# 1.1 M posts blocked the loop 75 s in the attack; the same code path is proved with fewer, the suite's time
# being what it is (encoding costs ~0.1-0.5 ms a post).
POSTS = 150_000
MAX_GAP = 2.0


async def ticking(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result, and the longest gap seen meanwhile between ticks of a coroutine sleeping 0.1 s."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.1)
            gaps.append(loop.time() - last)
            last = loop.time()

    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done.set()
        await ticker
    return result, max(gaps, default=0.0)


def posts(n: int) -> list[Observation]:
    return [
        Observation(
            feed="leaks",
            entry=f"lockbit3:victim-{i}",
            kind=FeedKind.LEAK,
            title=f"victim-{i}.example",
            text=f"victim-{i}.example",
        )
        for i in range(n)
    ]


@pytest.mark.slow
def test_storing_a_huge_leak_list_leaves_the_loop_free(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    try:
        listed = posts(POSTS)
        delta, gap = asyncio.run(ticking(store.save_observations_off_loop("leaks", listed, NOW)))
        assert delta == ObservationDelta(new=POSTS, changed=0, unchanged=0, delisted=0)
        assert gap < MAX_GAP, f"the loop stood still {gap:.1f} s"
        # The loop's own connection sees what the writer's committed, and delisting still works.
        assert store.feed_state("leaks").entries_seen == 0
        assert len(store.listed_bodies("leaks")["leaks"]) == POSTS
        delta, gap = asyncio.run(ticking(store.save_observations_off_loop("leaks", listed[:10], NOW)))
        assert (delta.unchanged, delta.delisted) == (10, POSTS - 10) and gap < MAX_GAP
    finally:
        store.close()


def test_the_writer_and_the_loop_share_one_database(tmp_path: Path) -> None:
    """Small writes go the same way: what the writer thread wrote, the store reads at once."""
    store = Store(tmp_path / "alertd.sqlite3")
    try:
        delta, _gap = asyncio.run(ticking(store.save_observations_off_loop("leaks", posts(3), NOW)))
        assert delta.new == 3 and len(store.listed_bodies()["leaks"]) == 3
        assert store.save_observations("leaks", posts(2), NOW).delisted == 1  # the loop's own connection
    finally:
        store.close()
