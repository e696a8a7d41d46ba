"""The registry's warnings at national scale (issue #14): each at the line of *that* establishment's value, the
names FINESS gave counted into one summary line per kind, and an analysis linear in the registry's size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alertd.config import checks, positions
from alertd.config.checks import registry_warnings
from alertd.config.registry import RegistryCache, load_registry

FINESS = '{et: "%s", category_label: "Pharmacie d\'Officine", department: "13"}'


def _warnings(folder: Path) -> list[str]:
    cache = RegistryCache()
    registry = load_registry(folder, cache)
    return [str(w) for w in registry_warnings(registry, cache.origins)]


def _at(path: Path, line_text: str, needle: str, nth: int = 1) -> str:
    """``file:line:col`` of ``needle`` on the ``nth`` line holding ``line_text``."""
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line_text in line:
            seen += 1
            if seen == nth:
                return f"{path}:{number}:{line.index(needle) + 1}"
    raise AssertionError(line_text)


def test_a_generic_alias_is_warned_of_at_each_establishments_own_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "establishments:\n"
        "  - id: e1\n    name: Hôpital Privé des Alpilles\n    aliases: [Clinique du Centre]\n"
        "  - id: e2\n    name: Maison de Santé Lumière\n    aliases: [Clinique du Centre]\n"
    )
    (tmp_path / "b.yaml").write_text(
        "establishments:\n  - id: e3\n    name: Centre Camargue Ouest\n    aliases: [Clinique du Centre]\n"
    )
    found = sorted(w for w in _warnings(tmp_path) if "Clinique du Centre" in w)
    assert len(found) == 3, found
    expected = {
        "e1": _at(tmp_path / "a.yaml", "Clinique du Centre", "Clinique", 1),
        "e2": _at(tmp_path / "a.yaml", "Clinique du Centre", "Clinique", 2),
        "e3": _at(tmp_path / "b.yaml", "Clinique du Centre", "Clinique", 1),
    }
    for est_id, where in expected.items():
        (mine,) = [w for w in found if f"establishment '{est_id}'" in w]
        assert mine.startswith(where + ": warning: "), (mine, where)


def test_a_name_repeated_in_one_file_points_at_its_own_item(tmp_path: Path) -> None:
    """The second establishment's name is found in its own item, not at the first one written alike, nor inside
    a longer name written before it."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "establishments:\n"
        "  - id: x1\n    name: Polyclinique Centre Médical Marine\n"
        "  - id: x2\n    name: Centre Médical\n"
        "  - id: x3\n    aliases: [Centre Médical Marine Nord, Centre Médical]\n    name: Institut Vauban\n"
    )
    found = [w for w in _warnings(path) if "'Centre Médical'" in w and "generic words" in w]
    assert len(found) == 2, found
    (x2,) = [w for w in found if "establishment 'x2'" in w]
    (x3,) = [w for w in found if "establishment 'x3'" in w]
    assert x2.startswith(_at(path, "name: Centre Médical", "Centre") + ":")
    line = path.read_text().splitlines().index("    aliases: [Centre Médical Marine Nord, Centre Médical]") + 1
    column = "    aliases: [Centre Médical Marine Nord, Centre Médical]".rindex("Centre Médical") + 1
    assert x3.startswith(f"{path}:{line}:{column}:"), x3


def test_an_establishment_written_in_flow_style_over_several_lines(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "establishments: [\n"
        "  {id: f1, name: Clinique Sainte},\n"
        "  {id: f2,\n   name: Clinique Sainte,\n   networks: [8.0.0.0/6]}\n"
        "]\n"
    )
    found = _warnings(path)
    (f2,) = [w for w in found if "establishment 'f2'" in w and "generic words" in w]
    assert f2.startswith(_at(path, "   name: Clinique Sainte", "Clinique") + ":"), f2
    (f1,) = [w for w in found if "establishment 'f1'" in w and "generic words" in w]
    assert f1.startswith(_at(path, "{id: f1", "Clinique") + ":"), f1
    (net,) = [w for w in found if "network 8.0.0.0/6" in w]
    assert net.startswith(_at(path, "networks: [8.0.0.0/6]", "8.0.0.0/6") + ":"), net


def _finess_item(est_id: str, name: str, alias: str | None = None) -> str:
    lines = [f'  - id: "{est_id}"', f"    name: {name}", f"    finess: {FINESS % est_id}"]
    if alias is not None:
        lines.append(f"    aliases: [{alias}]")
    return "\n".join(lines) + "\n"


def test_finess_names_are_summarised_and_the_operators_names_each_warned_of(tmp_path: Path) -> None:
    items = [_finess_item(f"13000{n:04d}", "PHARMACIE DU CENTRE") for n in range(40)]
    items += [_finess_item(f"13100{n:04d}", "ZZ") for n in range(5)]
    items.append(_finess_item("132000001", "PHARMACIE DES CIGALES D'ARLES", alias="Pharmacie du Centre"))
    items.append("  - id: own-1\n    name: ZZ\n")  # no finess record: the operator wrote this name
    path = tmp_path / "finess-13.yaml"
    path.write_text("establishments:\n" + "".join(items))
    found = _warnings(tmp_path)
    shared = [w for w in found if "names given by FINESS" in w and "generic words" in w]
    assert len(shared) == 1, found
    assert "40 names given by FINESS (1 distinct)" in shared[0] and "'PHARMACIE DU CENTRE' (130000000)" in shared[0]
    assert shared[0].startswith(_at(path, "name: PHARMACIE DU CENTRE", "PHARMACIE") + ":")
    assert shared[0].count("(1300000") == checks.EXAMPLES
    (short,) = [w for w in found if "names given by FINESS" in w and "fewer than 3 letters" in w]
    assert "5 names given by FINESS (1 distinct)" in short
    # The operator's alias and the operator's name: a warning each, at their own place.
    (alias,) = [w for w in found if "'Pharmacie du Centre'" in w]
    where = _at(path, "aliases: [Pharmacie du Centre]", "Pharmacie")
    assert alias.startswith(where + ": warning: establishment '132")
    (own,) = [w for w in found if "establishment 'own-1'" in w]
    assert own.startswith(_at(path, "name: ZZ", "ZZ", 6) + ":") and "fewer than 3 letters" in own
    assert len(found) == 4, found


def _generated(folder: Path, establishments: int) -> Path:
    """A registry of ``establishments`` FINESS-like items in 10 files, with shared names and operator aliases."""
    folder.mkdir()
    per = establishments // 10
    for f in range(10):
        items = []
        for n in range(f * per, (f + 1) * per):
            alias = f"Clinique Numero {n % 997} Sud" if n % 20 == 0 else None
            name = f"PHARMACIE {'DU CENTRE' if n % 7 == 0 else f'DES TILLEULS {n}'}"
            items.append(_finess_item(f"{n:09d}", name, alias))
        (folder / f"finess-{f:02d}.yaml").write_text("establishments:\n" + "".join(items))
    return folder


def test_the_analysis_builds_no_pattern_from_names_and_reads_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linear in the registry: no regular expression is compiled from the registry's names or ids (the old
    analysis built one of all names and one per id), each file is read and cut once however many warnings it
    holds, and 4x the establishments give 4x the warnings' work, not 16x."""
    compiled: list[str] = []
    real_compile = re.compile

    def spy(pattern: str, *args: object, **kwargs: object) -> re.Pattern[str]:
        compiled.append(pattern)
        return real_compile(pattern, *args, **kwargs)  # type: ignore[call-overload, no-any-return]

    cuts: list[Path] = []
    real_file = positions._File

    class CountedFile(real_file):  # type: ignore[misc, valid-type]
        def __init__(self, path: Path) -> None:
            cuts.append(path)
            super().__init__(path)

    monkeypatch.setattr(positions, "_File", CountedFile)
    finds: list[int] = []
    real_whole = positions._whole

    def counted_whole(text: str, value: str, start: int, end: int) -> int:
        finds.append(1)
        return real_whole(text, value, start, end)

    monkeypatch.setattr(positions, "_whole", counted_whole)
    sizes = {}
    for size in (2_000, 8_000):
        cache = RegistryCache()
        registry = load_registry(_generated(tmp_path / str(size), size), cache)
        cuts.clear()
        finds.clear()
        monkeypatch.setattr(re, "compile", spy)
        found = registry_warnings(registry, cache.origins)
        monkeypatch.setattr(re, "compile", real_compile)
        assert not [p for p in compiled if "PHARMACIE" in p or "Clinique" in p or "000000" in p]
        assert len(cuts) == len(set(cuts)) <= 10
        sizes[size] = (len(found), len(finds))
    # Each warning costs one bounded search in its own item: the work grows with the warnings, which grow with
    # the registry.
    for size, (warnings, searches) in sizes.items():
        assert searches <= 2 * warnings, (size, warnings, searches)
    assert sizes[8_000][0] <= 4.5 * sizes[2_000][0]
