"""The registry's fast reading of plain items, and the files' establishments kept in the state directory: both give
exactly what PyYAML's reading gives; an entry that is stale, corrupted or not the running user's own is ignored
and written anew."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import ROOT
from test_registry import TRICKY, WORDS, scalar

from alertd.config import registry as registry_module
from alertd.config import snapshot
from alertd.config.establishment_rules import Rules
from alertd.config.registry import RegistryCache, _load_slow, load_registry
from alertd.config.yamlsrc import loads_fast
from alertd.domain.establishments import Establishment, Finess
from alertd.store.statecache import StateCache, entry_key

EXAMPLE = ROOT / "config" / "establishments" / "example.yaml"
FINESS_KEYS = ("et", "ej", "long_name", "category_label", "address", "department", "opened", "updated", "closed")
IMPORTED = """\
establishments:
  - id: "130002827"
    name: CH JOSEPH IMBERT D'ARLES
    category: "355"
    city: ARLES
    postcode: "13637"
    finess: {et: "130002827", ej: "130789274", long_name: "CENTRE HOSPITALIER JOSEPH IMBERT D'ARLES",
             category_label: "Centre Hospitalier (C.H.)", address: "QUARTIER FOURCHON", department: "13",
             opened: "1901-01-01", updated: "2020-11-24"}
    acronyms: [chja]
    aliases: [Centre hospitalier d'Arles]
    contacts: [{email: rssi@ch-arles.example, min_severity: high},
               {email: dg@ch-arles.example, role: escalation, phone: 04 90 49 29 29}]
  - id: "010000024"
    name: CH DE FLEYRIAT
    category: "355"
    city: VIRIAT
    postcode: "01440"
    country: FR
    finess: {et: "010000024", ej: "010780054", opened: 1979-02-13, closed: "2021-01-08"}
"""


def registry_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "establishments"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


# --- the plain reading is the general one ----------------------------------------------------------------------


@st.composite
def imported_yaml(draw: st.DrawFn) -> str:
    """Items as the FINESS import writes them, and as operators then edit them: every field the import writes,
    each scalar plain or quoted, FINESS records with any of their keys."""
    styles = st.integers(0, 2)
    out = ["establishments:\n"]
    for number in range(draw(st.integers(1, 5))):
        lines = [f'  - id: "{number:09d}"', f"    name: {scalar(draw(WORDS), draw(styles))}"]
        for key in ("city", "postcode", "category", "country", "language", "kind"):
            if draw(st.booleans()):
                lines.append(f"    {key}: {scalar(draw(st.one_of(WORDS, st.just('FR'))), draw(styles))}")
        if draw(st.booleans()):
            values = draw(st.lists(WORDS, max_size=2))
            lines.append(f"    acronyms: [{', '.join(scalar(v, draw(styles)) for v in values)}]")
        if draw(st.booleans()):
            keys = ["et", *draw(st.lists(st.sampled_from(FINESS_KEYS[1:]), unique=True, max_size=8))]
            fields = [f"{k}: {scalar(draw(WORDS), draw(styles))}" for k in keys]
            lines.append("    finess: {" + ", ".join(fields) + "}")
        out.append("\n".join(lines) + "\n")
    return "".join(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=imported_yaml())
def test_imported_items_read_alike_on_both_paths(text: str) -> None:
    fast = registry_module._load_file("reg.yaml", text.encode())
    slow = _load_slow("reg.yaml", text)
    assert fast.establishments == slow.establishments
    assert fast.problems == slow.problems


class _General(Rules):
    """The rules without their plain reading: the general path alone."""

    def _plain(self, item: dict[Any, Any]) -> Establishment | None:
        return None


def test_plain_reading_equals_the_general_one() -> None:
    """Item by item, the plain reading gives what the general rules give, or leaves the item to them."""
    items: list[Any] = [
        {"id": "1", "name": "X", "finess": {"et": "1", "opened": "1979-02-13"}, "city": "ARLES"},
        {"id": "1", "name": "X", "finess": {"et": "1", "opened": 1979}},  # a number: the file's spelling checked
        {"id": "1", "name": "X", "finess": {"et": "1", "opened": None}},  # a fault
        {"id": "1", "name": "X", "finess": {"et": "1", "other": "x"}},  # an unknown key
        {"id": "1", "name": "X", "finess": ["et"]},
        {"id": "1", "name": "X", "country": "fr"},
        {"id": " ", "name": "X"},
        {"id": "1", "name": "X", "language": "de"},
        {"id": "1", "name": "X", "acronyms": ["C"]},
        {"id": "1", "name": "X", "aliases": [7, "A"], "tags": "t"},
        {"id": 7, "name": "X"},
        {"id": "1", "name": "X", "unknown": "key"},
    ]
    for text in (IMPORTED, TRICKY, EXAMPLE.read_text()):
        items += loads_fast(text)["establishments"]
    taken = 0
    for item in items:
        plain_rules, general_rules = Rules(), _General()
        plain = plain_rules._plain(item)
        general = general_rules.establishment(item)
        assert Rules().establishment(item) == general
        if plain is not None:
            taken += 1
            assert plain == general and plain_rules.ints == general_rules.ints
    assert taken >= 2 + 4  # the imported items and the example's, at least
    assert Rules().establishment(items[0]) == Establishment(
        "1", "X", city="ARLES", finess=Finess("1", opened="1979-02-13")
    )


# --- the files' establishments in the state directory ----------------------------------------------------------


def test_snapshot_gives_back_equal_establishments() -> None:
    for text in (IMPORTED, TRICKY, EXAMPLE.read_text()):
        read = _load_slow("reg.yaml", text)
        assert snapshot.decode(snapshot.encode(read.establishments, read.items, read.count)) == (
            read.establishments,
            read.items,
            read.count,
        )
    assert snapshot.decode(b'["registry-file-0", 0, [], []]') is None
    assert snapshot.decode(b'["registry-file-1", 1, [0], [["too short"]]]') is None
    assert snapshot.decode(b"not json") is None


def test_a_second_load_reads_the_state_directory(tmp_path: Path) -> None:
    folder = registry_folder(tmp_path, {"a.yaml": IMPORTED, "b.yaml": EXAMPLE.read_text()})
    state = tmp_path / "state"
    first = RegistryCache(persist=True)
    first.attach(state)
    parsed = load_registry(folder, first)
    assert (first.parsed, first.restored) == (2, 0)
    entries = sorted((state / "cache").iterdir())
    assert len(entries) == 2 and all(oct(p.stat().st_mode)[-3:] == "600" for p in entries)
    assert oct((state / "cache").stat().st_mode)[-3:] == "700"

    second = RegistryCache(persist=True)
    second.attach(state)
    assert load_registry(folder, second) == parsed
    assert (second.parsed, second.restored) == (0, 2)
    assert second.origins == first.origins

    # One file changed: that one only is parsed again, and its entry replaced.
    (folder / "a.yaml").write_text(IMPORTED.replace("CH DE FLEYRIAT", "CH DE BOURG"))
    third = RegistryCache(persist=True)
    third.attach(state)
    changed = load_registry(folder, third)
    assert (third.parsed, third.restored) == (1, 1)
    assert changed.establishments["010000024"].name == "CH DE BOURG"
    fourth = RegistryCache(persist=True)
    fourth.attach(state)
    assert load_registry(folder, fourth) == changed and fourth.restored == 2

    # A file gone from the registry: its entry goes too.
    (folder / "b.yaml").unlink()
    load_registry(folder, third)
    assert len(list((state / "cache").iterdir())) == 1


def test_deferred_files_are_written_when_kept(tmp_path: Path) -> None:
    """The daemon's cache holds the files it parsed until it serves, then keeps them (in a thread of its own)."""
    folder = registry_folder(tmp_path, {"a.yaml": IMPORTED, "b.yaml": EXAMPLE.read_text()})
    state = tmp_path / "state"
    held = RegistryCache(persist=True, defer=True)
    held.attach(state)
    parsed = load_registry(folder, held)
    assert held.unkept == 2 and not list((state / "cache").glob("registry-*"))
    keeper = threading.Thread(target=held.keep_parsed)
    keeper.start()
    keeper.join()
    assert held.unkept == 0 and len(list((state / "cache").glob("registry-*"))) == 2
    again = RegistryCache(persist=True)
    again.attach(state)
    assert load_registry(folder, again) == parsed and (again.parsed, again.restored) == (0, 2)

    # A reload that parses one file holds that one only; a cache without a state directory holds nothing.
    (folder / "a.yaml").write_text(IMPORTED.replace("CH DE FLEYRIAT", "CH DE BOURG"))
    load_registry(folder, held)
    assert held.unkept == 1
    memory = RegistryCache(defer=True)
    load_registry(folder, memory)
    assert memory.unkept == 0


def test_corrupted_foreign_or_stale_entries_are_ignored_and_rewritten(tmp_path: Path) -> None:
    folder = registry_folder(tmp_path, {"a.yaml": IMPORTED})
    state = tmp_path / "state"
    cache = RegistryCache(persist=True)
    cache.attach(state)
    expected = load_registry(folder, cache)
    (entry,) = (state / "cache").iterdir()
    good = entry.read_bytes()

    def reload() -> RegistryCache:
        again = RegistryCache(persist=True)
        again.attach(state)
        assert load_registry(folder, again) == expected
        return again

    entry.write_bytes(good[:-10])  # truncated: the payload's hash says so
    assert reload().parsed == 1 and entry.read_bytes() == good  # parsed, and written anew
    header, _, payload = good.partition(b"\n")
    entry.write_bytes(header + b"\n" + payload.replace(b"ARLES", b"PARIS"))  # same length, other bytes
    assert reload().parsed == 1
    entry.write_bytes(header.replace(header.split()[1], entry_key("other code").encode()) + b"\n" + payload)
    assert reload().parsed == 1
    entry.chmod(0o620)  # another user may write it: not trusted
    assert reload().parsed == 1
    assert reload().restored == 1  # rewritten as the running user's own, 0600
    entry.unlink()
    entry.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_bytes(good)
    assert reload().parsed == 1 and not entry.is_symlink()


def test_no_state_directory_made_when_not_allowed(tmp_path: Path) -> None:
    folder = registry_folder(tmp_path, {"a.yaml": IMPORTED})
    cache = RegistryCache(persist=True, make_state_dir=False)
    cache.attach(tmp_path / "state")
    load_registry(folder, cache)
    assert not (tmp_path / "state").exists()
    plain = RegistryCache()  # not persistent: never touches the disk
    plain.attach(tmp_path / "state2")
    load_registry(folder, plain)
    assert not (tmp_path / "state2").exists() and plain.disk is None


def test_state_cache_entry_round_trip(tmp_path: Path) -> None:
    cache = StateCache(tmp_path / "state")
    assert cache.read("x", "k") is None and cache.misses == 1
    assert cache.write("x", "k", b"payload\nwith lines")
    assert cache.read("x", "k") == b"payload\nwith lines" and cache.hits == 1
    assert cache.read("x", "other") is None
    (tmp_path / "state" / "cache").chmod(0o777)  # a folder others may write: nothing in it is trusted
    assert cache.read("x", "k") is None
    (tmp_path / "state" / "cache").chmod(0o700)
    assert cache.read("x", "k") == b"payload\nwith lines"
