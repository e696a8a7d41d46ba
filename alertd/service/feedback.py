"""``alertd inhibitions``: the inhibitions establishments' "not us" responses proposed, which the operator lists,
accepts into ``inhibitions.yaml`` or rejects (contract §5). Nothing is inhibited until the operator accepts it."""

from __future__ import annotations

import sys
from datetime import date, datetime

from alertd.config.files import Config
from alertd.config.inhibitions_append import append_inhibition
from alertd.domain.acknowledgement import Decision
from alertd.domain.errors import ConfigError
from alertd.domain.routing import Inhibition
from alertd.domain.settings import DEFAULT_PROPOSAL_EXPIRY
from alertd.service.clock import utcnow
from alertd.service.recovery import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from alertd.store.codecs import encode_time
from alertd.store.proposals import Proposal, decide, open_proposals, proposal
from alertd.store.sqlite import Store


def proposal_line(p: Proposal) -> str:
    """One open proposal as ``alertd inhibitions proposed`` prints it (tab-separated, the comment last)."""
    return "\t".join(
        (
            str(p.id),
            p.establishment,
            f"{p.indicator} ({p.type})",
            p.feed,
            encode_time(p.at)[:19],
            p.source,
            p.reference,
            p.comment or "-",
        )
    )


def cmd_proposed(config: Config) -> int:
    """``alertd inhibitions proposed``: the proposals nobody has accepted or rejected yet, oldest first."""
    store = Store.for_settings(config.settings, create=False)  # never makes a store
    try:
        for p in open_proposals(store.db):
            print(proposal_line(p))
    finally:
        store.close()
    return EXIT_OK


def default_reason(p: Proposal) -> str:
    """The reason written when the operator gives none: the establishment's comment, or what it answered."""
    return p.comment or f'{p.establishment} answered "not us" to {p.reference} on {p.at.date().isoformat()}'


def cmd_decide(config: Config, proposal_id: int, decision: Decision, expires: date | None, reason: str | None) -> int:
    """``alertd inhibitions accept|reject ID``: an accepted proposal is appended to ``inhibitions.yaml`` (read
    back as ``alertd check`` reads it before it replaces the file) in the transaction that closes it."""
    settings = config.settings
    now = utcnow()
    today = datetime.now(settings.timezone).date()
    store = Store.for_settings(settings, create=False)  # never makes a store
    try:
        p = proposal(store.db, proposal_id)
        if p is None:
            print(f"alertd: no proposed inhibition has id {proposal_id}", file=sys.stderr)
            return EXIT_USAGE
        if p.decision is not None:
            print(f"alertd: proposed inhibition {proposal_id} was already {p.decision}", file=sys.stderr)
            return EXIT_USAGE
        if decision is Decision.REJECTED:
            with store.transaction() as db:
                decide(db, proposal_id, decision, now)
            print(f"proposed inhibition {proposal_id} rejected")
            return EXIT_OK
        if settings.inhibitions_file is None:
            missing = f"alertd: {settings.path} names no inhibitions file: add 'inhibitions: inhibitions.yaml'"
            print(missing, file=sys.stderr)
            return EXIT_INVALID
        if expires is None:
            expires = today + (settings.web.proposal_expiry if settings.web else DEFAULT_PROPOSAL_EXPIRY)
        elif expires <= today:
            print(f"alertd: --expires {expires} is not after today ({today})", file=sys.stderr)
            return EXIT_USAGE
        entry = Inhibition(
            reason=reason or default_reason(p),
            expires=expires,
            establishment=p.establishment,
            indicator=p.indicator,
        )
        note = (
            f'proposed by {p.establishment}\'s "not us" response to {p.reference} of {encode_time(p.at)[:16]} UTC '
            f"from {p.source} (proposal {p.id}); accepted {today.isoformat()}"
        )
        try:
            with store.transaction() as db:
                decide(db, proposal_id, decision, now)
                written = append_inhibition(settings.inhibitions_file, entry, note, config.registry)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return EXIT_INVALID
    finally:
        store.close()
    until = f" until {written.expires}" if written.expires is not None else ""
    print(f"proposed inhibition {proposal_id} accepted: {written.where} holds {p.indicator} back{until}")
    return EXIT_OK
