"""Placeholder: being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ParseError
from ..model import Observation

if TYPE_CHECKING:
    from ..config import FeedConfig


def parse(feed: FeedConfig, body: bytes) -> list[Observation]:
    raise ParseError("format not implemented yet")
