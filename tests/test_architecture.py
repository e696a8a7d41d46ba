"""The tree is the pipeline: each stage package imports the domain and the stages before it, never one after.

Read from the source with ``ast``, so a cycle hidden inside a function or under ``TYPE_CHECKING`` counts too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from paths import ROOT

PACKAGE = ROOT / "alertd"
# In pipeline order; the store (the state every stage's results are kept in), config (the operator's files) and
# service (the shell) come after the stages they serve.
ORDER = ("domain", "intake", "match", "policy", "render", "send", "store", "config", "service")


def _imports(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line, alertd module imported, whether the import sits at the module's top level) for each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            if name == "alertd" or name.startswith("alertd."):
                yield node.lineno, name, id(node) in top


def _stage(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def test_every_module_belongs_to_a_stage() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert loose == []
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "templates")
    assert packages == sorted(ORDER)


def test_no_stage_imports_a_later_one() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        stage = _stage(path)
        if stage is None:
            continue
        for line, module, _top in _imports(path):
            other = module.split(".")[1] if "." in module else None  # "alertd" alone holds only __version__
            if other is not None and (other not in ORDER or ORDER.index(other) > ORDER.index(stage)):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {stage} imports {module}")
    assert wrong == []


def test_the_domain_imports_nothing_else_from_alertd() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in (PACKAGE / "domain").rglob("*.py")
        for line, module, _top in _imports(path)
        if not module.startswith("alertd.domain")
    ]
    assert wrong == []


def test_no_import_hides_inside_a_function() -> None:
    hidden = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in PACKAGE.rglob("*.py")
        for line, module, top in _imports(path)
        if not top and path.name != "__main__.py"
    ]
    assert hidden == []
