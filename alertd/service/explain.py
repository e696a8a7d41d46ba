"""``alertd explain --establishment ID --cve CVE``: the whole chain behind one vulnerability decision; and
``--entry FEED:ENTRY``: why an entry's text named an establishment, or did not.

For an operator or a CERT analyst who must answer "why did (or didn't) this hospital get this warning?": what
each source said of the CVE (products, statuses, ranges, exploitation, scores), which of the establishment's
registry items have the same product identity, each comparison of their declared version with each published
range, and the evidence level that follows. Read-only: it reads the store's knowledge and the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertd.domain.codes import Evidence, NameForm, NameRuling, UnsafeName
from alertd.domain.establishments import Establishment
from alertd.domain.knowledge import Statement
from alertd.domain.values import Observation, Product, VersionRange
from alertd.match.index import Judgement
from alertd.match.name_evidence import Mention
from alertd.match.name_forms import Form, name_key

_ANSWER = {True: "yes", False: "no", None: "not comparable"}
_SHOWN = 6  # ranges or versions listed before "… (N in all)"
_LEVEL = {
    Evidence.AFFECTED: "AFFECTED: an alert, at the rule's severity",
    Evidence.UNVERIFIED: "UNVERIFIED: an alert one severity level lower, saying the version was not checked",
    Evidence.NOT_AFFECTED: "NOT AFFECTED: no alert",
}


def explanation(
    est: Establishment, cve: str, statements: Sequence[Statement], judgements: Sequence[Judgement]
) -> list[str]:
    """The lines ``alertd explain`` prints (plain English for the operator; the emails have their own words)."""
    lines = [f"{cve} for {est.id} ({est.name})", "", "What the sources said:"]
    if not statements:
        lines.append("  nothing: no feed polled so far cites this CVE")
    for statement in sorted(statements, key=lambda s: (s.feed, s.entry)):
        notes = [
            "exploited in the wild" if statement.exploited else "",
            f"CVSS {statement.cvss}" if statement.cvss else "",
        ]
        if statement.epss:
            notes.append(f"EPSS {statement.epss}")
        shown = ", ".join(n for n in notes if n)
        lines.append(f"  {statement.source}{f' ({shown})' if shown else ''}")
        for line in _products(statement.products):
            lines.append(f"    {line}")
    lines += ["", "The establishment's inventory:"]
    if not est.software:
        lines.append("  no software declared")
    if not judgements:
        lines.append("  no declared item is a product these sources name")
    for judgement in judgements:
        lines.append(f"  {judgement.item}  (version judged: {judgement.version or 'none declared'})")
        if not judgement.said:
            lines.append("    no source gives versions for this product")
        # The comparisons that decide (inside, or not comparable) one by one; the others counted.
        outside = [step for step in judgement.steps if step.answer is False]
        for step in judgement.steps:
            if step.answer is not False:
                lines.append(
                    f"    {step.source}: {step.status.value} {_range(step.range)} → inside: {_ANSWER[step.answer]}"
                )
        if outside:
            shown = ", ".join(_range(step.range) for step in outside[:_SHOWN])
            more = f", … ({len(outside)} in all)" if len(outside) > _SHOWN else ""
            lines.append(f"    outside: {shown}{more}")
        fact = judgement.fact
        why = fact.basis.value if fact.basis else "?"
        rests = f", range {_range(fact.range)} from {fact.source}" if fact.range and fact.source else ""
        lines.append(f"    evidence: {fact.evidence.value} ({why}{rests})")
        lines.append(f"    → {_LEVEL.get(fact.evidence, fact.evidence.value)}")
    return lines


def _products(products: Sequence[Product]) -> list[str]:
    """One line per product and status: a CSAF advisory lists each affected version as its own product."""
    grouped: dict[tuple[object, ...], list[Product]] = {}
    for product in products:
        key = (product.vendor, product.product, product.status, product.edition, product.target_sw, product.running_on)
        grouped.setdefault(key, []).append(product)
    return [_product(group[0], [r for p in group for r in p.versions]) for group in grouped.values()]


def _product(product: Product, versions: Sequence[VersionRange]) -> str:
    ranges = ", ".join(_range(r.text) for r in versions[:_SHOWN]) or "every version"
    if len(versions) > _SHOWN:
        ranges += f", … ({len(versions)} in all)"
    where = []
    if product.edition:
        where.append(f"edition {product.edition}")
    if product.target_sw:
        where.append(f"on {product.target_sw}")
    if product.running_on:
        where.append("running on " + " or ".join(f"{p.vendor} {p.product}" for p in product.running_on))
    more = f" [{'; '.join(where)}]" if where else ""
    if product.status.value == "named":
        return f"{product.vendor} {product.product}: named, no version given{more}"
    return f"{product.vendor} {product.product}: {product.status.value} {ranges}{more}"


def _range(text: str) -> str:
    """A range in the notation of :attr:`VersionRange.text`, as written (``*`` is "every version")."""
    return "every version" if text == VersionRange().text else text


# -- names ---------------------------------------------------------------------------------------------------

_FORM = {
    NameForm.NAME: "name",
    NameForm.ALIAS: "alias",
    NameForm.LONG_NAME: "long name",
    NameForm.CATEGORY_COMMUNE: "category and commune",
    NameForm.CATEGORY_NAME: "category and name",
    NameForm.ACRONYM: "acronym",
}
_RULING = {
    NameRuling.MATCHED: "counted: a mention of the establishment",
    NameRuling.CONTAINED: "not counted: it is part of a longer registered name found there, which wins",
    NameRuling.AMBIGUOUS: "not counted: other establishments have this name, and no commune near it tells which",
    NameRuling.OTHER_ESTABLISHMENT: "not counted: other establishments have this name; it counts for {other}, "
    "whose place is written near it",
    NameRuling.OTHER_COUNTRY: "not counted: the entry's country ({place}) is not the establishment's",
    NameRuling.OTHER_PLACE: "not counted: another place is named next to it ({place})",
    NameRuling.LONGER_NAME: "not counted: it runs on into more capitalised words ({place}): another, longer name",
    NameRuling.WEAK: "not counted: a name this common needs a word of its kind next to it (hôpital or clinique for "
    "a hospital, pharmacie for a pharmacy…) or its commune, postcode or département near it",
    NameRuling.NO_CONTEXT: "not counted: an acronym needs a health word, the commune or the department near it",
}


def _ruling(m: Mention) -> str:
    """What the matcher made of one mention, in words; for a choice among establishments and for a weak name that
    counted, what decided."""
    if m.ruling is NameRuling.OTHER_ESTABLISHMENT and not m.placed:
        return (
            f"not counted: other establishments have this name and no place near it tells which; it counts for "
            f"{m.other}, by the registry's order (a registered name before a derived form, the lowest number of "
            "one legal entity)"
        )
    if m.ruling is NameRuling.MATCHED and m.context:
        how = "its place near it" if m.placed else "the word next to it"
        return f"counted: a mention of the establishment (a name this common counts by {how}: {m.context!r})"
    return _RULING[m.ruling].format(place=m.place, other=m.other)


def name_explanation(
    est: Establishment,
    obs: Observation,
    country: str,
    forms: Sequence[Form],
    unsafe: Sequence[UnsafeName],
    mentions: Sequence[Mention],
) -> list[str]:
    """The lines ``alertd explain --entry`` prints: the name forms looked for, what of them the entry's text holds,
    and whether each counted (plain English for the operator)."""
    lines = [
        f"Entry {obs.feed}:{obs.entry} for {est.id} ({est.name})",
        f"  text: {obs.text!r}" if obs.text else "  no text: only its indicators are matched",
        f"  country: {country}" if country else "  country: not given by the source",
        "",
        "The establishment's name forms looked for:",
    ]
    if est.closed:
        lines.append("  none: FINESS no longer lists it (closed)")
    for kind in NameForm:
        shown = [f.name for f in forms if f.kind is kind]
        if shown:
            lines.append(f"  {_FORM[kind]}: {', '.join(dict.fromkeys(shown))}")
    for u in unsafe:
        lines.append(f"  never looked for: {u.name!r} ({u.problem.value})")
    lines += ["", "In the entry's text:"]
    mine = [m for m in mentions if m.establishment == est.id]
    for m in mine:
        lines.append(f"  {m.written!r} as its {_FORM[m.kind]} {m.name!r}")
        lines.append(f"    → {_ruling(m)}")
    if not mine:
        words = set(name_key(obs.text)) if obs.text else set()
        near = sorted({w for f in forms for w in f.key if w in words})
        lines.append("  none of its name forms")
        if near:
            lines.append(f"  words of its names found there, not as a whole name: {', '.join(near)}")
    counted = any(m.ruling is NameRuling.MATCHED for m in mine)
    lines += ["", "→ NAMED: a name-mention finding" if counted else "→ NOT NAMED: no name-mention finding"]
    return lines


__all__ = ["explanation", "name_explanation"]
