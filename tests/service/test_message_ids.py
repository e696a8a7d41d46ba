"""Message-IDs (contract §4): fixed per email, and never given to two emails, even after a restore brings alert ids
back to a backup's."""

from __future__ import annotations

from alertd.service.dispatch import make_message_id

SENDER = "CERT Santé <alertes@cert-sante.example>"


def test_the_reference_makes_the_message_id_unique_across_restores() -> None:
    # After a restore the alert ids start again from the backup's: the same ids, another email, another reference.
    before = make_message_id("e-chu", [5], SENDER, "ALERTD-2026-ALE-0003")
    after = make_message_id("e-chu", [5], SENDER, "ALERTD-2026-ALE-0004")
    assert before != after
    assert before == "<alertd.e-chu.ALERTD-2026-ALE-0003@cert-sante.example>"  # one header line, even signed
    # Rendered again for the same email (a retry after a signing failure keeps its reference): the same one.
    assert make_message_id("e-chu", [5], SENDER, "ALERTD-2026-ALE-0003") == before


def test_an_email_without_a_reference_gets_a_random_part() -> None:
    first, second = (make_message_id("operators", [1, 2], SENDER) for _ in range(2))
    assert first != second
    assert first.startswith("<alertd.operators.") and first.endswith("@cert-sante.example>")
