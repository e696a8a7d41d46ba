"""``alertd explain``: the whole chain of one vulnerability decision, read from the store and the configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import MappingProxyType

import pytest
from builders import make_feed_spec
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.establishments import Establishment, Finess, Registry
from alertd.domain.feeds import FeedFormat
from alertd.domain.knowledge import Statement
from alertd.domain.values import FeedKind, Observation
from alertd.intake.formats import FORMATS
from alertd.match.name_evidence import NameMatcher
from alertd.service import cli
from alertd.service.clock import utcnow
from alertd.service.explain import name_explanation
from alertd.store.sqlite import Store


def explain(config: Path, establishment: str, cve: str) -> int:
    """``alertd explain`` in process (``cli.main`` would configure the logs for the whole test session)."""
    return cli.cmd_explain(load_config(config), establishment, cve)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config" / "alertd.yaml"


def _store_feed(config: Path, feed: str, fmt: FeedFormat, path: Path) -> list[Observation]:
    observations = FORMATS[fmt].parse(make_feed_spec(feed, fmt), path.read_bytes())
    store = Store.in_state_dir(config.parent.parent / "var" / "state")
    try:
        store.save_observations(feed, observations, utcnow())
    finally:
        store.close()
    return observations


def test_explain_shows_each_source_the_deciding_comparison_and_the_verdict(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds = example.parent / "feeds"
    _store_feed(example, "cisa-kev", FeedFormat.CISA_KEV, feeds / "known_exploited_vulnerabilities.json")
    _store_feed(example, "cisco-csaf", FeedFormat.CSAF, feeds / "cisco-sa-20180328-smi2.json")
    assert explain(example, "000000011", "cve-2018-0171") == 0
    out = capsys.readouterr().out
    assert "CVE-2018-0171 for 000000011 (Centre hospitalier universitaire de Garonne)" in out
    assert "cisa-kev (exploited in the wild)" in out and "Cisco IOS and IOS XE: named, no version given" in out
    assert "Cisco IOS: affected =12.2(55)EY" in out and "(180 in all)" in out
    assert "cisco-csaf, cisco-sa-20180328-smi2: affected =15.2(2)E6 → inside: yes" in out
    assert "evidence: affected (listed-affected, range =15.2(2)E6 from cisco-csaf, cisco-sa-20180328-smi2)" in out
    assert explain(example, "000000022", "CVE-2018-0171") == 0
    assert "evidence: not-affected (outside-range)" in capsys.readouterr().out
    # KEV alone: the product matches, no range decides.
    assert explain(example, "000000011", "CVE-2023-4966") == 0
    out = capsys.readouterr().out
    assert "no source gives versions for this product" in out and "evidence: unverified (no-range)" in out


def test_explain_refuses_an_unknown_establishment_or_a_malformed_cve(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert explain(example, "nope", "CVE-2018-0171") == 2
    assert "no establishment has id 'nope'" in capsys.readouterr().err
    assert explain(example, "000000011", "2018-0171") == 2
    assert "is not a CVE id" in capsys.readouterr().err
    # Nothing polled yet: said plainly.
    assert explain(example, "000000011", "CVE-2018-0171") == 0
    assert "nothing: no feed polled so far cites this CVE" in capsys.readouterr().out


def test_statements_name_their_source_by_feed_and_advisory() -> None:
    assert Statement("nvd", "CVE-2024-3400").source == "nvd"
    assert Statement("csaf", "cisco-sa-20180328-smi2#CVE-2018-0171").source == "csaf, cisco-sa-20180328-smi2"


def test_the_dry_run_reads_the_feeds_that_publish_versions_first(example: Path) -> None:
    # The example lists KEV before Cisco's advisory; the dry run judges KEV's entry with the advisory's versions,
    # as the daemon does once it has polled both.
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "alertd", "--log-level", "warning", "-c", str(example), "poll", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kev = {
        (r["establishment"], r["evidence"], r["basis"])
        for r in lines
        if r["feed"] == "cisa-kev" and r["indicator"] == "CVE-2018-0171"
    }
    assert kev == {("000000011", "affected", "listed-affected"), ("000000022", "not-affected", "outside-range")}


def test_explain_an_entry_shows_the_name_forms_what_matched_and_why(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    posts = tmp_path / "posts.json"
    titles = ["Centre hospitalier du Val de Lys", "Clinique Saint-Exupéry (Bruxelles)", "Val de Lys"]
    posts.write_text(json.dumps([{"post_title": t, "group_name": "g"} for t in titles]), encoding="utf-8")
    entries = {o.title: o.entry for o in _store_feed(example, "leaks", FeedFormat.LEAK_VICTIMS, posts)}
    config = load_config(example)

    assert cli.cmd_explain_entry(config, "000000044", f"leaks:{entries[titles[0]]}") == 0
    out = capsys.readouterr().out
    assert "name: Centre hospitalier du Val de Lys" in out and "alias: CH du Val de Lys" in out
    assert "'Centre hospitalier du Val de Lys' as its name" in out
    assert "counted: a mention of the establishment" in out and "→ NAMED: a name-mention finding" in out

    assert cli.cmd_explain_entry(config, "000000022", f"leaks:{entries[titles[1]]}") == 0
    out = capsys.readouterr().out
    assert "not counted: another place is named next to it (Bruxelles)" in out and "→ NOT NAMED" in out

    assert cli.cmd_explain_entry(config, "000000044", f"leaks:{entries[titles[2]]}") == 0
    out = capsys.readouterr().out
    assert "none of its name forms" in out and "not as a whole name: lys, val" in out


def test_explain_an_entry_refuses_what_is_not_stored(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = load_config(example)
    assert cli.cmd_explain_entry(config, "000000044", "leaks") == 2
    assert "is not FEED:ENTRY" in capsys.readouterr().err
    assert cli.cmd_explain_entry(config, "000000044", "leaks:nope") == 2
    assert "feed 'leaks' has no stored entry 'nope'" in capsys.readouterr().err
    assert cli.cmd_explain_entry(config, "nope", "leaks:x") == 2


def _names(text: str, *ests: Establishment) -> dict[str, list[str]]:
    """``name_explanation`` of ``text`` for each establishment of a small registry."""
    matcher = NameMatcher(Registry(MappingProxyType({e.id: e for e in ests}), ()))
    obs = Observation("press", "e", FeedKind.ADVISORY, "t", text=text)
    mentions = matcher.find(text)
    return {e.id: name_explanation(e, obs, "", matcher.forms_of(e.id), [], mentions) for e in ests}


def _hospital(est_id: str, name: str, category: str, city: str) -> Establishment:
    return Establishment(id=est_id, name=name, category=category, city=city, finess=Finess(est_id, ej=est_id))


def test_explain_says_what_chose_among_establishments_and_what_made_a_weak_name_count() -> None:
    reunion = _hospital("970400180", "CHU SITE SUD (SAINT JOSEPH)", "101", "ST JOSEPH")
    marseille = _hospital("130785652", "HOPITAL SAINT JOSEPH", "365", "MARSEILLE")
    alone = _names("Hôpital Saint-Joseph", reunion, marseille)
    assert "no place near it tells which; it counts for 130785652, by the registry's order" in "\n".join(
        alone["970400180"]
    )
    assert "not counted: a name this common needs a word of its kind" in "\n".join(alone["130785652"])

    placed = _names("Hôpital Saint-Joseph, Marseille", reunion, marseille)
    assert "it counts for 130785652, whose place is written near it" in "\n".join(placed["970400180"])
    assert "a name this common counts by its place near it: 'Marseille'" in "\n".join(placed["130785652"])

    pharmacy = _hospital("170013080", "SAINT LOUIS", "620", "ROCHEFORT")
    assert "counts by the word next to it: 'Pharmacie'" in "\n".join(
        _names("Pharmacie Saint-Louis", pharmacy)["170013080"]
    )
