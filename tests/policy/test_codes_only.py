"""Policy and matching speak in codes (``alertd.domain.codes``); only render puts codes into words.

Read from the source with ``ast``: a sentence for the reader, or a code spelled as a bare string, in a module
that should hold neither is found even where no test reaches it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from paths import ROOT

from alertd.domain.codes import AlertKind, Evidence, MatchReason
from alertd.domain.delivery import DeliveryState, SendOutcome
from alertd.domain.feeds import ColumnRole, FeedFormat
from alertd.domain.tlp import Tlp
from alertd.domain.values import FeedKind, IndicatorType

PACKAGE = ROOT / "alertd"
# Settings' codes (delivery method, SMTP security) are left out: their spellings are also the YAML keys config reads.
CODES = (MatchReason, Evidence, AlertKind, DeliveryState, SendOutcome, Tlp, FeedFormat, ColumnRole)
# Feed formats and column roles whose spellings other vocabularies share: "host" (settings' YAML key, a URL's
# part), "first_seen" (a fact's key, the email's rows, the store's columns), "csv" (a MIME subtype), "stix" (a
# STIX indicator's pattern type).
SHARED_WORDS = frozenset({ColumnRole.HOST, ColumnRole.FIRST_SEEN, FeedFormat.CSV, FeedFormat.STIX})
# What policy wrote into alerts before codes: the email showed it, or translated it back with regexes.
OLD_RULE_WORDS = ("severity", "reported", "exposed vulnerable service", "known exploited", ">= 7", "no higher rule")


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """The string constants of a module, but its docstrings (f-strings give their constant parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _modules(*stages: str) -> list[Path]:
    return sorted(path for stage in stages for path in (PACKAGE / stage).rglob("*.py"))


def test_policy_and_matching_write_no_rule_sentence() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in _modules("policy", "match")
        for line, text in _strings(path)
        if any(words in text for words in OLD_RULE_WORDS)
    ]
    assert found == []


def test_no_code_is_spelled_as_a_bare_string_outside_the_domain() -> None:
    # "domain" is also an indicator type and a feed kind's words are everywhere: only the codes' own spellings.
    plain = {str(t) for t in IndicatorType} | {str(k) for k in FeedKind}
    codes = {str(c) for enum in CODES for c in enum} - plain - SHARED_WORDS
    stages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name not in ("domain",)]
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in _modules(*stages)
        for line, text in _strings(path)
        if text in codes
    ]
    assert found == []
