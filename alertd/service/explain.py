"""``alertd explain --establishment ID --cve CVE``: the whole chain behind one vulnerability decision.

For an operator or a CERT analyst who must answer "why did (or didn't) this hospital get this warning?": what
each source said of the CVE (products, statuses, ranges, exploitation, scores), which of the establishment's
registry items have the same product identity, each comparison of their declared version with each published
range, and the evidence level that follows. Read-only: it reads the store's knowledge and the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from alertd.domain.codes import Evidence
from alertd.domain.establishments import Establishment
from alertd.domain.knowledge import Statement
from alertd.domain.values import Product, VersionRange
from alertd.match.index import Judgement

_ANSWER = {True: "yes", False: "no", None: "not comparable"}
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
        for product in statement.products:
            lines.append(f"    {_product(product)}")
    lines += ["", "The establishment's inventory:"]
    if not est.software:
        lines.append("  no software declared")
    if not judgements:
        lines.append("  no declared item is a product these sources name")
    for judgement in judgements:
        lines.append(f"  {judgement.item}  (version judged: {judgement.version or 'none declared'})")
        if not judgement.said:
            lines.append("    no source gives versions for this product")
        for step in judgement.steps:
            lines.append(
                f"    {step.source}: {step.status.value} {_range(step.range)} → inside: {_ANSWER[step.answer]}"
            )
        fact = judgement.fact
        why = fact.basis.value if fact.basis else "?"
        rests = f", range {_range(fact.range)} from {fact.source}" if fact.range and fact.source else ""
        lines.append(f"    evidence: {fact.evidence.value} ({why}{rests})")
        lines.append(f"    → {_LEVEL.get(fact.evidence, fact.evidence.value)}")
    return lines


def _product(product: Product) -> str:
    ranges = ", ".join(_range(r.text) for r in product.versions) or "every version"
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


__all__ = ["explanation"]
