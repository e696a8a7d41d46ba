"""What one poll of a feed came to, as the metrics count it."""

from __future__ import annotations

import enum


class PollOutcome(enum.StrEnum):
    """The outcome of one poll of a feed."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"  # the server said the feed has not changed since the last poll
    FAILED = "failed"

    @classmethod
    def of(cls, *, ok: bool, not_modified: bool) -> PollOutcome:
        """The outcome of a poll that succeeded or not, and found its feed modified or not."""
        if not ok:
            return cls.FAILED
        return cls.NOT_MODIFIED if not_modified else cls.OK
