"""A broken config file is reported at its cause, first, in plain words; a typo in a key names the key meant.

The cases are real slips of the example configuration's files: a key or a list item indented one column off, a
key that lost its indentation, a value holding ": ". The parser's own words stay only as a detail.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from configs import ALERTD
from paths import ROOT

from alertd.config.files import load_config
from alertd.config.yamlwords import explain, near_miss
from alertd.domain.errors import ConfigError

EXAMPLE = ROOT / "config"


def problems(cfg: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(cfg / "alertd.yaml")
    return [str(p) for p in info.value.problems]


def edit(cfg: Path, name: str, old: str, new: str) -> None:
    path = cfg / name
    text = path.read_text()
    assert old in text, f"{name} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))


# (file, the text as written, the slip, where the cause is, the words that name it)
SLIPS = {
    "key one column deeper": (
        "feeds.yaml",
        "    format: cisa-kev\n",
        "     format: cisa-kev\n",
        "13:6",
        "this line is indented more than the line above it (5 spaces, not 4), so YAML reads it as the rest of the "
        "value on line 12",
    ),
    "list item one column deeper": (
        "feeds.yaml",
        "  - id: cisa-kev\n",
        "   - id: cisa-kev\n",
        "10:4",
        "this line is indented differently from the ones before it (3 spaces; the lines above: 4 spaces on line 9, "
        "2 spaces on line 3, 0 spaces on line 2)",
    ),
    "key at the column of the list's dashes": (
        "feeds.yaml",
        "    tlp: clear\n    interval: 1h\n  - id: cisco-csaf",
        "  tlp: clear\n    interval: 1h\n  - id: cisco-csaf",
        "14:3",
        "this line stands in the column of the list's '-' but does not start an item: indent it 4 spaces like the "
        "keys of the item above, or start it with '- ' for a new item",
    ),
    "list item at the column of the top key": (
        "subscriptions.yaml",
        "  - name: exploited-vulnerabilities",
        "- name: exploited-vulnerabilities",
        "6:1",
        "this list item starts in the column of the keys above it (line 1): indent its '-' as the items of its list "
        "(2 spaces, as on line 2)",
    ),
    "settings key one column deeper": (
        "alertd.yaml",
        "state_dir: ../var/state",
        " state_dir: ../var/state",
        "4:2",
        "this line is indented more than the line above it (1 space, not 0)",
    ),
    "nested key one column shallower": (
        "alertd.yaml",
        "  reply_to: cert@cert-sante.example",
        " reply_to: cert@cert-sante.example",
        "14:2",
        "this line is indented differently from the ones before it (1 space; the lines above: 2 spaces on line 13, "
        "0 spaces on line 12)",
    ),
    "registry key one column shallower": (
        "establishments/example.yaml",
        "    kind: CHU\n",
        "   kind: CHU\n",
        "7:4",
        "this line is indented differently from the ones before it (3 spaces;",
    ),
    "a value holding ': '": (
        "inhibitions.yaml",
        "    reason: Sinkhole run by the establishment's SOC; its C2 traffic is expected",
        "    reason: Sinkhole: run by the establishment's SOC",
        None,
        "this value holds ': ', which YAML reads as another key: put the whole value in quotes",
    ),
    "a tab": ("feeds.yaml", "    interval: 30m\n", "\tinterval: 30m\n", "9:1", "a tab: YAML indents with spaces only"),
    "a dash glued to its item": (
        "feeds.yaml",
        "  - id: certfr-alertes",
        "  -id: certfr-alertes",
        "23:3",
        "a list item's '-' must be followed by a space: write '- ' here",
    ),
    # The parser stops lines below, at the next quote, in words about keys: the open quote is the cause.
    "a quote never closed": (
        "alertd.yaml",
        'from: "CERT Santé <alertes@cert-sante.example>"',
        'from: "CERT Santé <alertes@cert-sante.example>',
        "13:9",
        'this double quote is not closed on its line: end the value with "',
    ),
    # The key pushed to column 0 is the slip, not the well-indented item after it that the parser stops on.
    "a key pushed to the left": (
        "feeds.yaml",
        "    kind: compromise\n    interval: 30m\n",
        "    kind: compromise\ninterval: 30m\n",
        "9:1",
        "this line is indented less than the lines around it (0 spaces; line 8 has 4 spaces, line 10 2 spaces)",
    ),
    "a key without its ':' before a flow mapping": (
        "feeds.yaml",
        "    columns: {ip: dst_ip",
        "    columns {ip: dst_ip",
        "7:12",
        "the key 'columns' lacks its ':' before the value: write 'columns: {…'",
    ),
}


@pytest.mark.parametrize("slip", SLIPS.keys())
def test_a_slip_is_reported_first_at_its_cause_in_plain_words(cfg: Path, slip: str) -> None:
    name, old, new, where, words = SLIPS[slip]
    edit(cfg, name, old, new)
    found = problems(cfg)
    first = found[0]
    path = cfg / name
    if where is None:  # the line of the edit, at the value
        line = path.read_text().splitlines().index(new.splitlines()[0]) + 1
        where = f"{line}:13"
    assert first.startswith(f"{path.resolve()}:{where}: invalid YAML: {words}"), found
    assert "(parser: " in first  # PyYAML's words only after the cause, as a detail
    # Nothing follows from it: a feeds.yaml that cannot be read makes no feed "unknown" elsewhere
    assert not [p for p in found if "unknown feed" in p], found


def test_check_prints_the_cause_first_and_no_knock_on_error(cfg: Path) -> None:
    edit(cfg, "feeds.yaml", "    format: cisa-kev\n", "     format: cisa-kev\n")
    done = subprocess.run(
        [ALERTD, "-c", str(cfg / "alertd.yaml"), "check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"{(cfg / 'feeds.yaml').resolve()}:13:6: invalid YAML: this line is indented more")
    assert "unknown feed" not in done.stderr and "feeds.yaml defines" not in done.stderr


def test_a_feeds_file_of_another_shape_makes_no_feed_unknown(cfg: Path) -> None:
    edit(cfg, "feeds.yaml", "feeds:\n", "feed:\n")
    found = problems(cfg)
    assert found[0].startswith(f"{(cfg / 'feeds.yaml').resolve()}:2:1: unknown key 'feed' in feeds.yaml")
    assert "(did you mean 'feeds'?)" in found[0]
    assert not [p for p in found if "unknown feed" in p], found


def test_an_unknown_feed_is_still_an_error_when_feeds_yaml_reads(cfg: Path) -> None:
    edit(cfg, "subscriptions.yaml", "feeds: [cisa-kev]", "feeds: [cisa_kev]")
    found = problems(cfg)
    assert found == [
        f"{(cfg / 'subscriptions.yaml').resolve()}:10:13: unknown feed 'cisa_kev' (did you mean 'cisa-kev'?); "
        "feeds.yaml defines: certfr-alertes, cisa-kev, cisco-csaf, feodo"
    ]


@pytest.mark.parametrize(
    ("name", "old", "new", "meant"),
    [
        ("alertd.yaml", "timezone:", "timezon:", "timezone"),
        ("alertd.yaml", "  reply_to:", "  replyto:", "reply_to"),
        ("feeds.yaml", "    interval: 30m", "    intervall: 30m", "interval"),
        ("feeds.yaml", "    format: csv", "    format: CSV", "csv"),
        ("subscriptions.yaml", "    min_severity: imminent", "    min_severty: imminent", "min_severity"),
        ("establishments/example.yaml", "    region: Nouvelle-Aquitaine", "    regions: Nouvelle-Aquitaine", "region"),
        ("inhibitions.yaml", "    expires: 2027-06-30", "    expire: 2027-06-30", "expires"),
    ],
)
def test_a_near_miss_names_the_key_or_value_meant(cfg: Path, name: str, old: str, new: str, meant: str) -> None:
    edit(cfg, name, old, new)
    found = problems(cfg)
    assert f"(did you mean {meant!r}?); allowed: " in found[0], found


def test_no_suggestion_for_a_word_merely_alike() -> None:
    assert near_miss("colour", ["country", "city", "name"]) == ""
    assert near_miss("timezon", ["timezone", "tlp"]) == " (did you mean 'timezone'?)"
    assert near_miss("Red", ["red", "amber"]) == " (did you mean 'red'?)"
    assert near_miss(12, ["12"]) == ""


@pytest.mark.parametrize(
    "text",
    [
        "feeds:\n  - id: a\n    url: x\n     format: csv\n",
        "feeds:\n  - id: a\n    url: x\n   - id: b\n",
        "feeds:\n  - id: a\n    url: x\n  format: csv\n",
        "feeds:\n  - id: a\n    url: x\n- id: b\n",
        "sender:\n  from: a\n reply_to: b\n",
        "feeds:\n  - id: a\n    url x\n    format: csv\n",
        "feeds: [a, b\nx: 1\n",
        "a: 'open\nb: 1\n",
    ],
)
def test_both_parsers_are_explained_alike(text: str) -> None:
    # libyaml (CSafeLoader) and pure PyYAML (SafeLoader) word their errors differently; the cause is the same.
    causes = []
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        with pytest.raises(yaml.MarkedYAMLError) as info:
            yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
        causes.append(explain(info.value, text))
    assert causes[0] is not None and causes[0] == causes[1]


def test_a_file_without_its_final_line_break_is_warned_of(cfg: Path) -> None:
    feeds = cfg / "feeds.yaml"
    text = feeds.read_text()
    cut = text[: text.index("  - id: certfr-alertes")].rstrip("\n")  # valid YAML, one feed fewer
    feeds.write_text(cut)
    config = load_config(cfg / "alertd.yaml")
    assert [f.id for f in config.feeds] == ["feodo", "cisa-kev", "cisco-csaf"]
    assert [str(w) for w in config.warnings if "line break" in w.message] == [
        f"{feeds.resolve()}:{cut.count(chr(10)) + 1}:1: warning: the file does not end with a line break, so it may "
        "have been cut while written: check that its last entry is whole, then end the file with a line break"
    ]
    feeds.write_text(cut + "\n")
    assert not [w for w in load_config(cfg / "alertd.yaml").warnings if "line break" in w.message]


def test_a_file_cut_mid_entry_is_said_first(cfg: Path) -> None:
    # Cut inside an entry: its missing keys (or the syntax error of its last line) follow from the cut, said first.
    feeds = cfg / "feeds.yaml"
    text = feeds.read_text()
    feeds.write_text(text[: text.index("    format: csaf") + len("    format: csaf")])
    found = problems(cfg)
    assert found[0].startswith(f"{feeds.resolve()}:"), found
    assert "warning: the file does not end with a line break, so it may have been cut while written" in found[0]
    assert len(found) > 1  # what follows from it is still said, after it
