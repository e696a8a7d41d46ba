"""Delivery states and outcomes: the words the store keeps, and which states still have to go out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alertd.domain.delivery import DeliveryState
from alertd.domain.polling import PollOutcome
from alertd.store.sqlite import Store


def test_the_store_takes_every_delivery_state_and_nothing_else(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    insert = (
        "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, next_attempt, "
        "created) VALUES ('<m>', 'e', 's', '[]', 'subject', x'', ?, '', '')"
    )
    with store.transaction() as db:
        for state in DeliveryState:
            db.execute(insert, (state,))
    assert store.outbox_counts() == dict.fromkeys(DeliveryState, 1)
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
        db.execute(insert, ("bounced",))
    store.close()


def test_waiting_states_are_those_still_to_send() -> None:
    assert {s for s in DeliveryState if s.waiting} == {DeliveryState.PENDING, DeliveryState.SENDING}


def test_poll_outcomes() -> None:
    assert PollOutcome.of(ok=True, not_modified=False) is PollOutcome.OK
    assert PollOutcome.of(ok=True, not_modified=True) is PollOutcome.NOT_MODIFIED
    assert PollOutcome.of(ok=False, not_modified=True) is PollOutcome.FAILED
