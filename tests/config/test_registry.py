"""Registry loading: the fast path (yaml-rs) and the PyYAML path agree, positions stay exact, the cache re-reads
only what changed."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import ROOT

from alertd.config import establishment_rules as rules
from alertd.config import registry as registry_module
from alertd.config.registry import RegistryCache, _FileResult, _load_fast, _load_slow, load_registry
from alertd.config.yamlsrc import ambiguous_scalars, loads, sequence_items
from alertd.domain.errors import ConfigError
from alertd.domain.establishments import Establishment, Software

EXAMPLE = ROOT / "config" / "establishments"


def both(text: str, name: str = "reg.yaml") -> tuple[_FileResult, _FileResult]:
    """The file read by the fast path (which must not give up) and by PyYAML alone."""
    fast = _load_fast(name, text.encode(), text)
    assert fast is not None, "the fast path gave the file up to PyYAML"
    return fast, _load_slow(name, text)


def problems(path: Path, cache: RegistryCache | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_registry(path, cache)
    return [str(p) for p in info.value.problems]


def item(number: int, extra: str = "") -> str:
    """One valid establishment in the operator contract's style, with optional extra lines."""
    return (
        f'  - id: "{number:09d}"\n'
        f"    name: Centre Hospitalier {number}\n"
        f"    contacts:\n"
        f"      - {{email: rssi@ch-{number}.example, role: security}}\n"
        f'    networks: [10.{number // 256 % 256}.{number % 256}.0/24, "2001:db8:{number:x}::/48"]\n'
        f"    asns: [{64512 + number % 1000}]\n"
        f"    domains: [ch-{number}.example]\n"
        f"    software:\n"
        f'      - {{vendor: Citrix, product: NetScaler ADC, version: "13.1-49.13"}}\n'
        f"      - {{vendor: Microsoft, product: Windows Server, version: 2019}}\n" + extra
    )


def registry_text(count: int, extras: dict[int, str] | None = None) -> str:
    extras = extras or {}
    return "# generated\nestablishments:\n" + "".join(item(n, extras.get(n, "")) for n in range(1, count + 1))


def line_of(text: str, needle: str) -> int:
    """The 1-based line where ``needle`` first appears."""
    return text[: text.index(needle)].count("\n") + 1


# --- both paths give the same establishments ---------------------------------------------------------------


def test_example_registry_same_on_both_paths() -> None:
    text = (EXAMPLE / "example.yaml").read_text()
    fast, slow = both(text)
    assert fast.establishments == slow.establishments
    assert len(fast.establishments) == 4 and fast.slow_items == 0 and not fast.problems
    chu = fast.establishments[0]
    assert chu.software[1] == Software("fortinet", "fortios", "7.2.4", "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*")


TRICKY = """\
# Comments anywhere.
establishments:
  - id: 000000011          # unquoted with leading zeros: still the text written
    name: CHU de Garonne
    networks: [84.247.157.0/24, "2001:db8:11::/48", '2001:db8:12::/48']
    asns: [64511, AS2200, "AS64512"]
    software:
      - {vendor: Citrix, product: NetScaler ADC, version: 13.1-49.13}
      - {vendor: Microsoft, product: Windows Server, version: 2019}
      - {vendor: Acme, product: Gateway, version: 7.10}
      - cpe: "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*"
  - id: 330781196
    name: Clinique Saint-Exupéry 😀
    aliases: [Clinique St-Exupery, "Clinique\\u00a0Exupéry"]
    language: en
    tags: [yes, no, on, off, 1.5, 2024-01-01, 12:30]
    contacts:
      - {email: a@b.example, role: on-call, min_severity: imminent, phone: "+33 5 56 79 56 79"}
      - {email: c@d.example, name: Jo}
  - {id: "6", name: Flow Mapping, kind: "CHU", region: 'Grand Est', networks: "2001:db8:6::/48"}
  - id: '7'
    name: >-
      Folded
      name
    aliases:
      - "quoted \\u00e9"
      - plain # comment
    domains: [Example.ORG., chu.example]
    region: Île-de-France
  - id: "8"
    name: !!str 0755
    kind: ~
"""


def test_tricky_yaml_same_on_both_paths() -> None:
    fast, slow = both(TRICKY)
    assert fast.establishments == slow.establishments
    assert fast.problems == slow.problems
    ids = [e.id for e in slow.establishments]
    assert ids == ["000000011", "330781196", "6", "7"]  # "8" has a null kind
    assert [str(p) for p in slow.problems] == [
        f"reg.yaml:{line_of(TRICKY, 'kind: ~')}:11: 'kind' must be a string, not nothing (null)"
    ]
    chu, clinique, flow, folded = slow.establishments
    assert chu.asns == (64511, 2200, 64512)
    assert [s.version for s in chu.software] == ["13.1-49.13", "2019", "7.10", "7.2.4"]
    assert clinique.name == "Clinique Saint-Exupéry 😀" and clinique.aliases[1] == "Clinique\u00a0Exupéry"
    assert [(c.role, c.phone) for c in clinique.contacts] == [("on-call", "+33 5 56 79 56 79"), ("security", "")]
    assert clinique.tags == {"yes", "no", "on", "off", "1.5", "2024-01-01", "12:30"}
    assert flow.networks[0].version == 6 and flow.region == "Grand Est"
    assert folded.name == "Folded name" and folded.domains == ("example.org", "chu.example")
    assert 0 < fast.slow_items < fast.count  # the ambiguous items only


def test_anchors_and_merge_keys() -> None:
    text = (
        "establishments:\n"
        "  - &base\n"
        '    id: "1"\n'
        "    name: Base\n"
        "    kind: CH\n"
        "    software: &soft [{vendor: Citrix, product: NetScaler ADC}]\n"
        "  - <<: *base\n"
        '    id: "2"\n'
        "    name: Derived\n"
        "  - {id: '3', name: Other, software: *soft}\n"
    )
    fast = registry_module._load_file("reg.yaml", text.encode())
    slow = _load_slow("reg.yaml", text)
    assert fast.establishments == slow.establishments and not slow.problems
    derived = slow.establishments[1]
    assert (derived.id, derived.name, derived.kind) == ("2", "Derived", "CH")
    assert slow.establishments[2].software == slow.establishments[0].software


def test_merge_keys_override_without_duplicate_key_errors() -> None:
    """Keys written next to a merge key override the merged ones, even when PyYAML flattened them early."""
    assert loads("a: &x {<<: {k: 0, j: 2}, k: 1}\n<<: *x\nk: 3\n", "f.yaml") == {"a": {"k": 1, "j": 2}, "k": 3, "j": 2}
    assert loads("b: &b {x: 1, y: 1}\nc: &c {x: 2}\nd: {<<: [*c, *b], y: 3}\n", "f.yaml")["d"] == {"x": 2, "y": 3}
    with pytest.raises(ConfigError, match=r"f\.yaml:3:1: duplicate key 'k'"):
        loads("<<: {k: 0}\nk: 1\nk: 2\n", "f.yaml")


def test_crlf_and_byte_order_mark() -> None:
    text = "\ufeff" + registry_text(3, {2: "    colour: red\n"}).replace("\n", "\r\n")
    fast, slow = both(text)
    assert fast.establishments == slow.establishments and fast.problems == slow.problems
    assert [(p.line, p.column) for p in fast.problems] == [(line_of(text, "colour"), 5)]


def test_many_chunks_with_problems_match_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_CHUNK", 7)
    extras = {
        3: "    colour: red\n",
        9: "    aliases: {a: b}\n",
        20: "    language: no\n",
        31: "      - {cpe: 'cpe:2.4:a:x:y:1'}\n",
    }
    text = registry_text(40, extras).replace("10.0.5.0/24", "10.0.5.1/24").replace("ch-17.example]", "ch 17]")
    fast, slow = both(text)
    assert fast.establishments == slow.establishments
    assert fast.problems == slow.problems
    assert 0 < fast.slow_items < 10
    found = [str(p) for p in fast.problems]
    assert found[0] == f"reg.yaml:{line_of(text, 'colour')}:5: unknown key 'colour' in an establishment; allowed: " + (
        "id, name, aliases, acronyms, kind, region, tags, language, contacts, networks, asns, domains, software, "
        "city, postcode, country, category, finess"
    )
    assert f"reg.yaml:{line_of(text, '10.0.5.1/24')}:16: bad network '10.0.5.1/24'" in found[1]
    assert "did you mean 10.0.5.0/24?" in found[1]
    assert found[2].startswith(f"reg.yaml:{line_of(text, 'aliases: {a')}:14: 'aliases' takes strings, not a mapping")
    assert found[3].startswith(f"reg.yaml:{line_of(text, 'ch 17]')}:15: bad domain 'ch 17'")
    assert found[4] == f"reg.yaml:{line_of(text, 'language: no')}:15: 'language' is 'no'; allowed: fr, en"
    assert found[5].startswith(f"reg.yaml:{line_of(text, 'cpe:2.4')}:15: bad CPE 'cpe:2.4:a:x:y:1'")


def test_syntax_error_and_duplicate_key_in_a_large_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """yaml-rs refuses the file: the items at fault are found and read by PyYAML alone, the others stay fast."""
    monkeypatch.setattr(registry_module, "_CHUNK", 5)
    text = registry_text(30)
    duplicate = ("    domains: [ch-7.example]\n", "    name: Again\n")
    syntax = ("    asns: [64534]\n", "    asns: [64534\n")
    text = text.replace(*duplicate).replace(*syntax)
    result = _load_fast("reg.yaml", text.encode(), text)
    assert result is not None and result.slow_items == 2 and len(result.establishments) == 28
    assert str(result.problems[0]) == (
        f"reg.yaml:{line_of(text, 'name: Again')}:5: duplicate key 'name' (first given at line "
        f"{line_of(text, 'name: Centre Hospitalier 7')}); keep only one"
    )
    # PyYAML alone stops at the first mistake of the file; each is where PyYAML puts it.
    assert result.problems == (
        _load_slow("reg.yaml", registry_text(30).replace(*duplicate)).problems
        + _load_slow("reg.yaml", registry_text(30).replace(*syntax)).problems
    )
    assert "invalid YAML: the '[' opened here is not closed" in str(result.problems[1])
    assert "(parser: while parsing a flow sequence" in str(result.problems[1])


def test_slices_that_cannot_stand_alone_fall_back_to_the_whole_file() -> None:
    text = (
        "establishments:\n"
        "  - {id: '1', name: One, tags: &t [a, b]}\n"
        "  - {id: '2', name: Two, tags: *t, networks: [10.0.0.1/8]}\n"
    )
    result = registry_module._load_file("reg.yaml", text.encode())
    assert [str(p) for p in result.problems] == [
        "reg.yaml:3:47: bad network '10.0.0.1/8': 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"
    ]


def test_file_shape_problems() -> None:
    for text, message in (
        ("- a\n", "reg.yaml:1:1: a registry file must be a mapping of keys to values, not a list"),
        ("establishment:\n  - id: x\n", "reg.yaml:1:1: unknown key 'establishment' in a registry file"),
        ("establishments:\n", "reg.yaml:1:16: 'establishments' must be a list, not nothing (null)"),
        ("establishments: []\n---\nx: 1\n", "reg.yaml:2:1: invalid YAML: a second YAML document ('---') starts here"),
    ):
        result = registry_module._load_file("reg.yaml", text.encode())
        assert str(result.problems[0]).startswith(message), result.problems


def test_without_the_fast_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    text = TRICKY
    with_fast = registry_module._load_file("reg.yaml", text.encode())
    monkeypatch.setattr(registry_module, "FAST_PARSER", False)
    without = registry_module._load_file("reg.yaml", text.encode())
    assert with_fast.establishments == without.establishments and with_fast.problems == without.problems
    assert without.slow_items == without.count


# --- random registries: the fast path never disagrees with PyYAML ------------------------------------------

# Scalars written plain that YAML 1.1 and 1.2 type differently, or not at all.
PLAIN = [
    "yes", "no", "on", "off", "true", "False", "null", "~", "000000011", "0755", "0x1F", "0o17", "1_000", "+5",
    "-0", "7.10", "1e3", ".inf", ".5", "2019", "12:30", "2024-01-01", "330781196", "0", "Clinique Saint-Exupéry",
    "CHU de Garonne", "x#y", "a: b", "2001:db8::/48", "10.1.2.0/24", "10.1.2.3/24", "AS2200", "AS0x898",
    "chu.example", "bad domain", "rssi@chu.example", "rssi@", "fr", "en", "imminent", "high", "on-call",
]  # fmt: skip
WORDS = st.sampled_from(PLAIN)


def scalar(value: str, style: int) -> str:
    """``value`` written plain (0), single-quoted (1) or double-quoted (2)."""
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    if style == 2:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value if value in PLAIN and value != "a: b" else "'" + value + "'"


@st.composite
def establishments_yaml(draw: st.DrawFn) -> str:
    styles = st.integers(0, 2)
    out = ["# random\nestablishments:\n"]
    for _ in range(draw(st.integers(1, 6))):
        ident = draw(st.one_of(WORDS, st.integers(0, 10**9).map(str), st.text("0123456789", min_size=1, max_size=9)))
        lines = [f"  - id: {scalar(ident, draw(styles))}", f"    name: {scalar(draw(WORDS), draw(styles))}"]
        for key in ("kind", "region", "language"):
            if draw(st.booleans()):
                lines.append(f"    {key}: {scalar(draw(WORDS), draw(styles))}")
        for key in ("aliases", "tags", "networks", "asns", "domains"):
            if draw(st.booleans()):
                values = draw(st.lists(st.one_of(WORDS, st.integers(0, 70000).map(str)), max_size=3))
                lines.append(f"    {key}: [{', '.join(scalar(v, draw(styles)) for v in values)}]")
        if draw(st.booleans()):
            lines.append("    contacts:")
            for _ in range(draw(st.integers(1, 2))):
                fields = [f"email: {scalar(draw(WORDS), draw(styles))}"]
                if draw(st.booleans()):
                    fields.append(f"min_severity: {scalar(draw(WORDS), draw(styles))}")
                lines.append("      - {" + ", ".join(fields) + "}")
        if draw(st.booleans()):
            lines.append("    software:")
            for _ in range(draw(st.integers(1, 3))):
                keys = draw(st.lists(st.sampled_from(["vendor", "product", "version", "cpe"]), unique=True, min_size=1))
                fields = [f"{k}: {scalar(draw(WORDS), draw(styles))}" for k in keys]
                lines.append("      - {" + ", ".join(fields) + "}")
        out.append("\n".join(lines) + "\n")
    return "".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=establishments_yaml(), chunk=st.sampled_from([1, 2, 1000]))
def test_fast_path_agrees_with_pyyaml(text: str, chunk: int) -> None:
    old = registry_module._CHUNK
    registry_module._CHUNK = chunk
    try:
        fast = registry_module._load_file("reg.yaml", text.encode())
    finally:
        registry_module._CHUNK = old
    slow = _load_slow("reg.yaml", text)
    assert fast.establishments == slow.establishments
    assert fast.problems == slow.problems


@given(
    sign=st.sampled_from(["", "+"]),
    prefix=st.sampled_from(["", "0x", "0X", "0o", "0b", "0"]),
    digits=st.text("0123456789abcdefABCDEF_", min_size=1, max_size=8),
)
def test_asn_reads_every_yaml_integer_alike(sign: str, prefix: str, digits: str) -> None:
    """An ASN written as a YAML integer means the same number on both paths."""
    spelling = sign + prefix + digits
    data: Any = yaml_rs.loads(f"a: {spelling}")
    typed = data["a"]
    if type(typed) is not int:
        return
    try:
        from_text: int | None = rules.asn(spelling)
    except Exception:
        from_text = None
    try:
        from_int: int | None = rules.asn(str(typed))
    except Exception:
        from_int = None
    assert from_text == from_int


@settings(max_examples=500)
@given(
    address=st.one_of(
        st.ip_addresses().map(str),
        st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
        st.lists(st.text("0123456789", max_size=4), min_size=3, max_size=5).map(".".join),
        st.lists(st.text("0123456789abcdefABCDEF", max_size=5), min_size=2, max_size=10).map(":".join),
    ),
    prefix=st.integers(0, 140),
    zeros=st.booleans(),
)
def test_network_rule_matches_ipaddress(address: str, prefix: int, zeros: bool) -> None:
    """The socket-module shortcut accepts and builds exactly what ``ipaddress.ip_network`` does."""
    text = f"{address}/{prefix:03d}" if zeros else f"{address}/{prefix}"
    try:
        expected: object = ipaddress.ip_network(text, strict=True)
    except ValueError:
        expected = None
    try:
        got: object = rules.network(text)
    except rules.BadValue:
        got = None
    assert got == expected and str(got) == str(expected)


def test_ambiguous_scalars() -> None:
    raw = b"a: 0755\nb: '0755'\nc: [1, +2, 3_000]\nd: -0x1\ne: !!binary x\nf: 10.0.0.0/8\ng: x_1\n"
    found = {raw[at : at + 2] for at in ambiguous_scalars(raw)}
    assert found == {b"07", b"+2", b"_0", b"-0", b"!!"}
    assert ambiguous_scalars(b"0755") == [0]


def test_sequence_items() -> None:
    text = registry_text(3)
    slices = sequence_items(text, "establishments")
    assert slices is not None and [s.line for s in slices] == [3, 13, 23]
    assert "".join(text[s.start : s.end] for s in slices) == text[text.index("  - id") :]
    one = loads(text[slices[1].start : slices[1].end], "reg.yaml", as_text=True, first_line=slices[1].line)
    assert one[0].value_pos["id"] == ("reg.yaml", 13, 9)
    assert sequence_items("establishments:\n  - a\nother: 1\n", "establishments") is None
    assert sequence_items("establishments: [a]\n", "establishments") is None
    assert sequence_items("x: 1\nestablishments:\n  - a\n", "establishments") is None
    assert sequence_items("establishments:\n  - a\n\r  - b\n", "establishments") is None


# --- many files, duplicates, the cache ----------------------------------------------------------------------


def test_errors_keep_positions_in_one_file_and_in_many(tmp_path: Path) -> None:
    text = registry_text(20).replace("10.0.5.0/24", "10.0.5.1/24").replace("[ch-15.example]", "[bad domain]")
    one = tmp_path / "one.yaml"
    one.write_text(text)
    folder = tmp_path / "many"
    folder.mkdir()
    lines = text.splitlines(keepends=True)
    (folder / "a.yaml").write_text("".join(lines[:102]))
    (folder / "b.yaml").write_text("establishments:\n" + "".join(lines[102:]))
    single = problems(one)
    assert single[0].startswith(f"{one}:{line_of(text, '10.0.5.1/24')}:16: bad network '10.0.5.1/24'")
    assert single[1].startswith(f"{one}:{line_of(text, 'bad domain')}:15: bad domain 'bad domain'")
    split = problems(folder)
    assert split[0].startswith(f"{folder / 'a.yaml'}:{line_of(text, '10.0.5.1/24')}:16: bad network")
    second = (folder / "b.yaml").read_text()
    assert split[1].startswith(f"{folder / 'b.yaml'}:{line_of(second, 'bad domain')}:15: bad domain")
    assert len(single) == len(split) == 2


def test_duplicate_id_across_files_names_both_positions(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(registry_text(5))
    (tmp_path / "b.yaml").write_text("# other\nestablishments:\n" + item(9) + item(3) + item(3))
    found = problems(tmp_path)
    assert found == [
        f"{tmp_path / 'b.yaml'}:13:9: duplicate establishment id '000000003' (first at {tmp_path / 'a.yaml'}:23)",
        f"{tmp_path / 'b.yaml'}:23:9: duplicate establishment id '000000003' (first at {tmp_path / 'a.yaml'}:23)",
    ]


def test_duplicate_id_positions_when_the_file_cannot_be_cut(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("establishments: [{id: '1', name: A}, {id: '2', name: B}]\n")
    (tmp_path / "b.yaml").write_text("establishments: [\n  {id: '3', name: C},\n  {id: 2, name: D}]\n")
    found = problems(tmp_path)
    assert found == [f"{tmp_path / 'b.yaml'}:3:8: duplicate establishment id '2' (first at {tmp_path / 'a.yaml'}:1)"]


def test_cache_rereads_only_the_changed_file(tmp_path: Path) -> None:
    for n in range(4):
        (tmp_path / f"part-{n}.yaml").write_text(registry_text(3).replace('"00000', f'"{n}0000'))
    cache = RegistryCache()
    first = load_registry(tmp_path, cache)
    assert (cache.parsed, cache.reused, len(first.establishments)) == (4, 0, 12)
    again = load_registry(tmp_path, cache)
    assert (cache.parsed, cache.reused) == (4, 4) and again.establishments == first.establishments
    edited = tmp_path / "part-2.yaml"
    edited.write_text(edited.read_text().replace("Centre Hospitalier 1\n", "Centre Hospitalier Un\n"))
    third = load_registry(tmp_path, cache)
    assert (cache.parsed, cache.reused) == (5, 7)
    assert third.establishments["200000001"].name == "Centre Hospitalier Un"
    # Same bytes under a new time: nothing to parse. A broken edit is reported; its fix is parsed again.
    edited.touch()
    load_registry(tmp_path, cache)
    assert cache.parsed == 5
    good = edited.read_text()
    edited.write_text(good.replace("10.0.1.0/24", "10.0.1.1/24"))
    assert problems(tmp_path, cache)[0].startswith(f"{edited}:")
    assert problems(tmp_path, cache)[0].startswith(f"{edited}:")  # the broken file's result is cached too
    edited.write_text(good)
    load_registry(tmp_path, cache)
    assert (cache.parsed, cache.reused) == (7, 21)
    (tmp_path / "part-3.yaml").unlink()
    assert len(load_registry(tmp_path, cache).establishments) == 9


def test_cache_works_with_the_example_config(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "establishments")
    cache = RegistryCache()
    reg = load_registry(tmp_path / "establishments", cache)
    assert sorted(reg.establishments) == ["000000011", "000000022", "000000033", "000000044"]
    assert isinstance(reg.establishments["000000022"], Establishment)
    assert load_registry(tmp_path / "establishments", cache) == reg


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"establishments:\n  - id: \xff\n")
    assert problems(tmp_path) == [f"{tmp_path / 'a.yaml'}:1:1: not UTF-8 text (byte 24)"]


@pytest.mark.parametrize(
    ("cpe", "software"),
    [
        ("cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*", ("fortinet", "fortios", "7.2.4")),
        ("cpe:2.3:a:microsoft:exchange_server:2019:cu12:*:*:*:*:*:*", ("microsoft", "exchange server", "2019")),
        ("cpe:2.3:h:cisco:asa_5505:-:*:*:*:*:*:*:*", ("cisco", "asa 5505", None)),
        ("cpe:2.3:a:acme:a\\:b:1.0:*:*:*:*:*:*:*", ("acme", "a:b", "1.0")),  # an escaped colon
    ],
)
def test_software_named_by_a_cpe(cpe: str, software: tuple[str, str, str | None]) -> None:
    assert rules.software(None, None, None, cpe) == Software(*software, cpe)
    assert rules.software("Fortinet", "FortiOS", "7.4", cpe) == Software("Fortinet", "FortiOS", "7.4", cpe)


@pytest.mark.parametrize(
    "cpe",
    [
        "cpe:/o:fortinet:fortios:7.2.4",  # a CPE 2.2 URI: the registry takes 2.3 formatted strings only
        "CPE:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*",
        "cpe:2.3:o:fortinet:fortios:7.2.4",
        "cpe:2.3:x:fortinet:fortios:7.2.4:*:*:*:*:*:*:*",
        "cpe:2.3:o::fortios:7.2.4:*:*:*:*:*:*:*",
        "fortios",
    ],
)
def test_software_refuses_what_is_no_cpe_2_3_string(cpe: str) -> None:
    with pytest.raises(rules.BadValue, match="bad CPE"):
        rules.software("fortinet", "fortios", None, cpe)
