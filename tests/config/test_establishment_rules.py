"""The registry's rules, written once: each one fails alike on the fast parser's values and on PyYAML's, and the
loader reports it with the same message at the same ``file:line:col`` whichever parser read the file first."""

from __future__ import annotations

from typing import Any

import pytest
import yaml_rs

from alertd.config.establishment_rules import Fault, Rules, registry_items
from alertd.config.registry import _load_fast, _load_file, _load_slow
from alertd.config.yamlsrc import Pos, loads, position
from alertd.domain.establishments import Establishment

ALLOWED = (
    "id, name, aliases, acronyms, kind, region, tags, language, contacts, networks, asns, domains, software, "
    "city, postcode, country, category, finess"
)
GOOD = "    name: Centre Hospitalier\n    networks: [10.1.0.0/16]\n    software: [{vendor: Citrix, product: ADC}]\n"

# One case per rule: the item at fault (after "  - "), the text where the problem must point, and its message.
CASES: dict[str, tuple[str, str, str]] = {
    "establishment is a mapping": ("just text\n", "just text", "an establishment must be a mapping of keys to "
                                   "values, not str 'just text'"),
    "unknown key": ('id: "1"\n' + GOOD + "    colour: red\n", "colour", f"unknown key 'colour' in an "
                    f"establishment; allowed: {ALLOWED}"),
    "id required": ("name: Lonely\n", "name: Lonely", "an establishment lacks required key 'id'"),
    "name required": ('id: "1"\n', 'id: "1"', "an establishment lacks required key 'name'"),
    "id is text": ("id: [1, 2]\n" + GOOD, "[1, 2]", "'id' must be a string, not a list"),
    "id not empty": ('id: " "\n' + GOOD, '" "', "an establishment id may not be empty"),
    "name is text": ('id: "1"\n    name: ~\n', "~", "'name' must be a string, not nothing (null)"),
    "aliases are text": ('id: "1"\n' + GOOD + "    aliases: [ok, {a: b}]\n", "{a: b}", "'aliases' takes strings, "
                         "not a mapping"),
    "language": ('id: "1"\n' + GOOD + "    language: de\n", "de\n", "'language' is 'de'; allowed: fr, en"),
    "network": ('id: "1"\n    name: X\n    networks: [10.2.0.0/16, 10.0.0.1/8]\n', "10.0.0.1/8", "bad network "
                "'10.0.0.1/8': 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?"),
    "asn": ('id: "1"\n' + GOOD + "    asns: [2200, AS-1]\n", "AS-1", "bad ASN 'AS-1'; write a number such as 2200 "
            "or AS2200"),
    "domain": ('id: "1"\n' + GOOD + "    domains: ch 1.example\n", "ch 1", "bad domain 'ch 1.example'; write a "
               "host name such as chu-exemple.fr"),
    "contacts are a list": ('id: "1"\n' + GOOD + "    contacts: rssi@ch.example\n", "rssi@", "'contacts' must be a "
                            "list, not str 'rssi@ch.example'"),
    "contact is a mapping": ('id: "1"\n' + GOOD + "    contacts: [rssi@ch.example]\n", "rssi@", "a contact must be "
                             "a mapping of keys to values, not str 'rssi@ch.example'"),
    "contact keys": ('id: "1"\n' + GOOD + "    contacts: [{email: a@ch.example, fax: '1'}]\n", "fax",
                     "unknown key 'fax' in a contact; allowed: email, role, min_severity, name, phone"),
    "phone": ('id: "1"\n' + GOOD + "    contacts: [{email: a@ch.example, phone: call the desk}]\n", "call the",
              "'call the desk' is not a phone number: digits, spaces, + . - ( ) /"),
    "contact email required": ('id: "1"\n' + GOOD + "    contacts:\n      - role: security\n", "role: security",
                               "a contact lacks required key 'email'"),
    "email": ('id: "1"\n' + GOOD + "    contacts: [{email: nobody}]\n", "nobody", "bad email address 'nobody'"),
    "contact name is text": ('id: "1"\n' + GOOD + "    contacts: [{email: a@ch.example, name: [Jo]}]\n", "[Jo]",
                             "'name' must be a string, not a list"),
    "min_severity": ('id: "1"\n' + GOOD + "    contacts: [{email: a@ch.example, min_severity: urgent}]\n", "urgent",
                     "'min_severity' is 'urgent'; allowed: imminent, critical, high, info"),
    "role is text": ('id: "1"\n' + GOOD + "    contacts: [{email: a@ch.example, role: null}]\n", "null",
                     "'role' must be a string, not nothing (null)"),
    "software is a list": ('id: "1"\n    name: X\n    software: {vendor: Citrix}\n', "{vendor", "'software' must "
                           "be a list, not a mapping"),
    "software item is a mapping": ('id: "1"\n    name: X\n    software: [Citrix]\n', "Citrix", "a software item "
                                   "must be a mapping of keys to values, not str 'Citrix'"),
    "software keys": ('id: "1"\n    name: X\n    software: [{vendor: a, product: b, edition: c}]\n', "edition",
                      "unknown key 'edition' in a software item; allowed: vendor, product, version, cpe"),
    "cpe": ('id: "1"\n    name: X\n    software: [{cpe: "cpe:2.4:x"}]\n', '"cpe:2.4', "bad CPE 'cpe:2.4:x'; write "
            "a CPE 2.3 string cpe:2.3:part:vendor:product:..."),
    "vendor and product": ('id: "1"\n    name: X\n    software:\n      - vendor: Citrix\n', "vendor: Citrix",
                           "a software item needs 'vendor' and 'product', or a 'cpe'"),
    "version is text": ('id: "1"\n    name: X\n    software: [{vendor: a, product: b, version: ~}]\n', "~",
                        "'version' must be a string, not nothing (null)"),
    "kind is text": ('id: "1"\n' + GOOD + "    kind: [CHU]\n", "[CHU]", "'kind' must be a string, not a list"),
    "region is text": ('id: "1"\n' + GOOD + "    region: {a: b}\n", "{a: b}", "'region' must be a string, not a "
                       "mapping"),
    "tags are text": ('id: "1"\n' + GOOD + "    tags: [a, [b]]\n", "[b]", "'tags' takes strings, not a list"),
}  # fmt: skip


def registry(bad: str) -> str:
    """A registry whose fifth item of nine is ``bad``; the others are valid."""
    good = [f'  - id: "{n}"\n' + GOOD.replace("10.1.0.0", f"10.{n}.0.0") for n in range(10, 18)]
    return "# registry\nestablishments:\n" + "".join(good[:4]) + "  - " + bad + "".join(good[4:])


def where(text: str, bad: str, needle: str) -> tuple[int, int]:
    """The 1-based line and column of the first ``needle`` in the item ``bad`` of ``text``."""
    at = text.index(needle, text.index("  - " + bad))
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_fails_alike_on_both_parsers(case: str) -> None:
    """The rule's faults on yaml-rs's values are those on PyYAML's; the fast path puts the problem where PyYAML
    alone does, with the same message, and reads only the item at fault through PyYAML."""
    bad, needle, message = CASES[case]
    text = registry(bad)
    fast_items: Any = yaml_rs.loads("  - " + bad)
    slow_items: Any = loads("  - " + bad, "item.yaml", as_text=True)
    on_fast, on_slow = Rules().establishment(fast_items[0]), Rules().establishment(slow_items[0])
    assert isinstance(on_fast, list) and on_fast == on_slow
    fast = _load_fast("reg.yaml", text.encode(), text)
    assert fast is not None and fast.slow_items == 1 and len(fast.establishments) == 8
    assert fast.problems == _load_slow("reg.yaml", text).problems
    line, column = where(text, bad, needle)
    assert [str(p) for p in fast.problems] == [f"reg.yaml:{line}:{column}: {message}"]


def test_faults_carry_paths_inside_the_item() -> None:
    item = {
        "id": "1",
        "name": "X",
        "colour": "red",
        "networks": ["10.0.0.0/8", "10.0.0.1/8"],
        "contacts": [{"email": "a@b.example"}, {"email": "nobody"}],
        "software": [{"vendor": "a"}, {"cpe": "bad"}],
    }
    found = Rules().establishment(item)
    assert isinstance(found, list)
    assert [(f.path, f.on_key) for f in found] == [
        (("colour",), True),
        (("networks", 1), False),
        (("contacts", 1, "email"), False),
        (("software", 0), False),
        (("software", 1, "cpe"), False),
    ]
    assert Rules().establishment({"id": "1", "name": "X", "asns": 2200, "tags": "a"}) == Establishment(
        "1", "X", tags=frozenset({"a"}), asns=(2200,)
    )


def test_numbers_stand_for_their_digits_and_say_so() -> None:
    """An int from the fast parser is text, and ``ints`` tells the loader to check the file's spelling; an ASN
    reads alike whatever its spelling, so it does not need that check."""
    rules = Rules()
    est = rules.establishment({"id": 330781196, "name": "X", "asns": [2200]})
    assert isinstance(est, Establishment) and est.id == "330781196"
    assert rules.ints
    only_asn = Rules()
    assert isinstance(only_asn.establishment({"id": "1", "name": "X", "asns": [2200]}), Establishment)
    assert not only_asn.ints
    for not_text in (7.1, True, None):
        found = Rules().establishment({"id": "1", "name": not_text})
        assert isinstance(found, list) and found[0].path == ("name",)


def test_file_shape_rules_and_their_positions() -> None:
    """The file's own problems: a mapping's stand where it starts, anything else at the file's first line."""
    assert registry_items({"establishments": [1]}) == ([1], [])
    assert registry_items([]) == ([], [Fault((), "a registry file must be a mapping of keys to values, not a list")])
    for text, expected in (
        (
            "# a comment first\nother: 1\n",
            [
                "reg.yaml:2:1: unknown key 'other' in a registry file; allowed: establishments",
                "reg.yaml:2:1: a registry file lacks required key 'establishments'",
            ],
        ),
        ("# a comment first\n- a\n", ["reg.yaml:1:1: a registry file must be a mapping of keys to values, not a list"]),
        ("establishments: {a: 1}\n", ["reg.yaml:1:17: 'establishments' must be a list, not a mapping"]),
    ):
        assert [str(p) for p in _load_file("reg.yaml", text.encode()).problems] == expected
        assert [str(p) for p in _load_slow("reg.yaml", text).problems] == expected


def test_position_follows_keys_and_indexes() -> None:
    data = loads("a:\n  - x\n  - {b: 1, c: [2, 3]}\n", "f.yaml", as_text=True)
    start = Pos("f.yaml", 1, 1)
    assert position(data, start, ()) == start
    assert position(data, start, ("a", 1, "c", 1)) == ("f.yaml", 3, 19)
    assert position(data, start, ("a", 1, "c"), on_key=True) == ("f.yaml", 3, 12)
    assert position(data, start, ("a", 1, "missing", 0)) == ("f.yaml", 3, 5)  # the last place reached
    assert position(data, start, ("a", 7)) == ("f.yaml", 2, 3)
