"""The establishments of one registry file as JSON, for the cache of parsed files in ``state_dir``
(:mod:`alertd.store.statecache`).

Reading 95,000 establishments back from this form takes about a third of the time that parsing their YAML and
checking them takes; JSON, not pickle, so that reading an entry runs no code whatever the file holds. The form is
a list per establishment, its fields in :class:`~alertd.domain.establishments.Establishment`'s order; reading it
back gives establishments equal to those the file's YAML gives (tested field by field). Any change of this form,
or of the classes it fills, changes alertd's code and so the key every entry is written under: an entry of
another form is never read.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from alertd.domain.establishments import Contact, Establishment, Finess, Network, Software
from alertd.domain.values import Severity

FORMAT = "registry-file-2"  # 2: contacts carry a phone


def _row(est: Establishment) -> list[Any]:
    f = est.finess
    return [
        est.id,
        est.name,
        est.aliases,
        est.kind,
        est.region,
        sorted(est.tags),
        est.language,
        [[c.email, c.role, int(c.min_severity), c.phone] for c in est.contacts],
        [str(n) for n in est.networks],
        est.asns,
        est.domains,
        [[s.vendor, s.product, s.version, s.cpe] for s in est.software],
        est.city,
        est.postcode,
        est.country,
        est.category,
        est.acronyms,
        None
        if f is None
        else [f.et, f.ej, f.long_name, f.category_label, f.address, f.department, f.opened, f.updated, f.closed],
    ]


def encode(establishments: tuple[Establishment, ...], items: tuple[int, ...], count: int) -> bytes:
    """One file's establishments, their item numbers in the file's list, and how many items the list holds."""
    rows = [_row(est) for est in establishments]
    return json.dumps([FORMAT, count, items, rows], ensure_ascii=False, separators=(",", ":")).encode()


def _network(text: str) -> Network:
    return ipaddress.ip_network(text)


def decode(payload: bytes) -> tuple[tuple[Establishment, ...], tuple[int, ...], int] | None:
    """What :func:`encode` wrote, or None when the payload is not of that form."""
    try:
        form, count, items, rows = json.loads(payload)
        if form != FORMAT:
            return None
        shared: dict[tuple[Any, ...], Software] = {}  # registries repeat the same products: one object each
        establishments = tuple(
            [
                Establishment(
                    r[0],
                    r[1],
                    tuple(r[2]),
                    r[3],
                    r[4],
                    frozenset(r[5]),
                    r[6],
                    tuple([Contact(c[0], c[1], Severity(c[2]), c[3]) for c in r[7]]) if r[7] else (),
                    tuple([_network(n) for n in r[8]]) if r[8] else (),
                    tuple(r[9]),
                    tuple(r[10]),
                    tuple([shared.setdefault(tuple(s), Software(*s)) for s in r[11]]) if r[11] else (),
                    r[12],
                    r[13],
                    r[14],
                    r[15],
                    tuple(r[16]),
                    None if r[17] is None else Finess(*r[17]),
                )
                for r in rows
            ]
        )
        return establishments, tuple(items), int(count)
    except (ValueError, TypeError, IndexError, KeyError):
        return None
