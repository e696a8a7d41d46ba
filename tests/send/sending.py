"""Sending through a transport from a test: messages in turn, failures returned rather than raised."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from alertd.domain.errors import DeliveryError
from alertd.send.transports import SendResult, Transport


def send_in_turn(
    transport: Transport, sender: str, batches: Sequence[Sequence[str]], messages: Sequence[bytes]
) -> list[SendResult | DeliveryError]:
    """Send ``messages[n]`` to ``batches[n]`` in turn on one transport, then close it; failures are returned."""

    async def go() -> list[SendResult | DeliveryError]:
        outcomes: list[SendResult | DeliveryError] = []
        try:
            for message, recipients in zip(messages, batches, strict=True):
                try:
                    outcomes.append(await transport.send(message, sender, recipients))
                except DeliveryError as exc:
                    outcomes.append(exc)
        finally:
            await transport.close()
        return outcomes

    return asyncio.run(go())
