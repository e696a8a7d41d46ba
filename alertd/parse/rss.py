"""Placeholder: being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import Observation

if TYPE_CHECKING:
    from ..config import FeedConfig


def parse(feed: FeedConfig, body: bytes) -> list[Observation]:
    raise NotImplementedError
