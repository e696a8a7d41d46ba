"""A parser's observations, bounded by the feed's ``max_entries`` (issue #13: findings per poll bounded).

A parser stops building entries once it holds ``max_entries`` and finds one more: what it returns is then an
:class:`Entries` whose ``cut`` says so, a list all the same, so the callers that take a parser's result as a list
(the CLI's dry run, the tests) read it unchanged. The poll reads ``cut`` to store and match what was read without
delisting what the document lists further on (contract §2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from alertd.domain.feeds import FeedSpec
from alertd.domain.values import Observation

MAX_TITLE = 1000  # characters of an entry's title kept; an email shows 300


class Entries(list[Observation]):
    """Observations in a feed's order; ``cut``: the parser stopped at the feed's ``max_entries`` with more left."""

    __slots__ = ("cut",)

    def __init__(self, observations: Iterable[Observation] = (), *, cut: bool = False) -> None:
        super().__init__(observations)
        self.cut = cut


def bounded_entries(feed: FeedSpec, observations: Iterable[Observation | None]) -> Entries:
    """The observations in order, without the None of unreadable items and without a repeated entry, at most
    ``feed.max_entries`` of them: ``observations`` is read lazily, so nothing past the cap is built but the one
    entry that shows the document had more."""
    seen: set[str] = set()
    result = Entries()
    for observation in observations:
        if observation is None or observation.entry in seen:
            continue
        if len(result) >= feed.max_entries:
            result.cut = True
            break
        seen.add(observation.entry)
        result.append(observation)
    return result


def cut_to(feed: FeedSpec, observations: list[Observation]) -> Entries:
    """A parser's whole result bounded after the fact (for a format that reads its document whole): the first
    ``feed.max_entries``, ``cut`` when there were more. An :class:`Entries` already bounded is returned as it is."""
    if isinstance(observations, Entries) and len(observations) <= feed.max_entries:
        return observations
    if len(observations) <= feed.max_entries:
        return Entries(observations)
    return Entries(observations[: feed.max_entries], cut=True)


def bounded(obs: Observation) -> Observation:
    """An entry with its title cut to :data:`MAX_TITLE` characters: a title is a headline, and it is stored three
    times (the entry, its finding, its alert); the whole text, capped by the parser, stays in ``text``."""
    if len(obs.title) <= MAX_TITLE:
        return obs
    return replace(obs, title=obs.title[: MAX_TITLE - 1] + "…")
