"""Where a delivery stands in the outbox, and what one attempt to send it came to (contract §4).

The values are the words the store keeps, the CLI prints and the metrics label, so they never change.
"""

from __future__ import annotations

import enum

OPERATORS = "(operators)"  # what the outbox lists as the establishment of a notice to the CERT's own operators


class DeliveryState(enum.StrEnum):
    """The state of one email in the outbox."""

    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # handed to the transport; a crash leaves it here, and the next sender tries it again
    SENT = "sent"  # the server accepted it (for some recipients at least: the others have a delivery of their own)
    FAILED = "failed"  # refused for good, or given up on; only an operator's ``outbox retry`` queues it again

    @property
    def waiting(self) -> bool:
        """True while the delivery still has to go out (the outbox's depth counts these)."""
        return self in (DeliveryState.PENDING, DeliveryState.SENDING)


class SendOutcome(enum.StrEnum):
    """What one attempt to hand a delivery to the transport came to."""

    SENT = "sent"
    DEFERRED = "deferred"  # a temporary failure: tried again later
    FAILED = "failed"  # a permanent failure, or the last attempt
