"""``alertd what-if``: a history made by a real poll (``alertd run --once`` of the real Feodo Tracker and KEV
samples, read from files), each kind of file edited in a copy of the configuration, and the exact difference the
real command reports (JSON); the store is left byte for byte as it was, and a writer's open transaction does not
stop it."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from configs import alertd
from paths import DATA

ESTABLISHMENTS = """\
establishments:
  - id: e-chu
    name: CHU de Test
    kind: CHU
    contacts: [{email: rssi@chu-test.example}, {email: oncall@chu-test.example, min_severity: imminent}]
    networks: [84.247.157.0/24]
    software: [{vendor: Citrix, product: NetScaler ADC, version: "13.1-49.13"}]
  - id: e-clinic
    name: Test Clinic
    kind: clinique
    contacts: [{email: security@clinic-test.example}]
    networks: [154.12.224.0/20]
  - id: e-neighbour
    name: Neighbour Clinic
    kind: clinique
    contacts: [{email: it@neighbour-test.example}]
    networks: [154.12.248.0/24]
  - id: e-quiet
    name: Quiet Hospital
    kind: CH
    contacts: [{email: quiet@quiet-test.example}]
    networks: [94.72.104.0/24]
"""
FEEDS = f"""\
feeds:
  - id: feodo
    url: 'file://{DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"}'
    format: csv
    kind: compromise
    interval: 1h
    backlog_after: never
    columns: {{ip: dst_ip, port: dst_port, first_seen: first_seen_utc, malware: malware}}
  - id: kev
    url: 'file://{DATA / "kev" / "known_exploited_vulnerabilities.json"}'
    format: cisa-kev
    interval: 1h
    backlog_after: never
"""
SUBSCRIPTIONS = "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n"
INHIBITIONS = "inhibitions:\n  - {establishment: e-quiet, indicator: 94.72.104.80, reason: sinkhole of the SOC}\n"
SETTINGS = """\
state_dir: state
feeds: feeds.yaml
registry: establishments.yaml
subscriptions: subscriptions.yaml
inhibitions: inhibitions.yaml
sender: {from: "CERT Test <alertes@cert-test.example>"}
delivery: {method: maildir, maildir: maildir}
"""
# Citrix NetScaler ADC's known-exploited CVEs in the KEV sample: e-chu's warnings, each "high" (a KEV finding is
# critical, one level lower with its version not checked: no NVD feed here).
CITRIX = "Citrix NetScaler ADC 13.1-49.13"
KEV_RULE = {"kind": "kev", "unverified": True}
FEODO = {
    "84.247.157.112": ("e-chu", "84.247.157.0/24"),
    "154.12.233.66": ("e-clinic", "154.12.224.0/20"),
    "154.12.236.248": ("e-clinic", "154.12.224.0/20"),
    "154.12.248.41": ("e-neighbour", "154.12.248.0/24"),
    "94.72.104.77": ("e-quiet", "94.72.104.0/24"),
}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The running configuration's alertd.yaml, its store filled by one real cycle."""
    return cycled(tmp_path_factory.mktemp("whatif"), FEEDS, "feodo  28 entries (28 new), 5 findings")


def cycled(tmp: Path, feeds: str, said: str) -> Path:
    """The configuration written in ``tmp`` with ``feeds``, its store filled by one real cycle that says ``said``."""
    for name, text in (
        ("establishments.yaml", ESTABLISHMENTS),
        ("feeds.yaml", feeds),
        ("subscriptions.yaml", SUBSCRIPTIONS),
        ("inhibitions.yaml", INHIBITIONS),
        ("alertd.yaml", SETTINGS),
    ):
        (tmp / name).write_text(text)
    done = alertd(tmp / "alertd.yaml", "run", "--once")
    assert done.returncode == 0, done.stderr
    assert said in done.stdout
    return tmp / "alertd.yaml"


def edited(history: Path, tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the running configuration in ``tmp_path`` with ``old`` replaced by ``new`` in file ``name``."""
    for file in history.parent.glob("*.yaml"):
        shutil.copy(file, tmp_path / file.name)
    path = tmp_path / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return tmp_path / "alertd.yaml"


def exit_code(result: dict[str, Any]) -> int:
    """What-if's exit code for its JSON: 4 when it warns of a likely mistake (a reload script stops), else 0."""
    return 4 if result["mistakes"] else 0


def what_if(history: Path, new: Path, *args: str) -> dict[str, Any]:
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new), "--format", "json", *args)
    result: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == exit_code(result), done.stderr
    assert result["entries"] == 28 + 1404
    return result


def warned_cves(history: Path) -> list[str]:
    """The CVEs e-chu was warned of, as ``alertd history`` tells them."""
    done = alertd(history, "history", "--establishment", "e-chu", "--json")
    return sorted(r["indicator"] for r in map(json.loads, done.stdout.splitlines()) if r["type"] == "cve")


DEFAULT_RELOAD = {"warning-added": "sent-now", "warning-removed": "nothing-more", "newly-inhibited": "nothing-more"}


def record(
    change: str, cause: str, ip: str, before: str | None, after: str | None, rule: dict[str, Any], **more: str
) -> dict[str, Any]:
    """What ``what-if --format json`` says of one change to a Feodo finding (found at ``ip``). Every finding was told
    by the cycle (no backlog: ``backlog_after: never``): the reload sends a warning added, nothing more for one
    removed, and nothing now for one told already."""
    entry = more.pop("entry", None)
    reload = more.pop("reload", None) or DEFAULT_RELOAD.get(change, "already-told")
    out = {
        "change": change,
        "cause": cause,
        "indicator": ip,
        "type": "ipv4",
        "feed": "feodo",
        "asset": more.pop("asset", None) or FEODO[ip][1],
        "reason": "address-in-network",
        "before": before,
        "after": after,
        "rule": rule,
        "reload": reload,
    }
    return out | ({"entry": entry} if entry else {})


def without_entries(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The differences per establishment, without each entry's id (a digest of its content)."""
    return {
        est: [{k: v for k, v in d.items() if k != "entry"} for d in diffs]
        for est, diffs in result["establishments"].items()
    }


def test_a_widened_network_adds_the_neighbours_warning_and_warns_of_the_shared_network(
    history: Path, tmp_path: Path
) -> None:
    new = edited(history, tmp_path, "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19")
    result = what_if(history, new)
    matched = {"asset": "154.12.224.0/19", "reason": "address-in-network"}
    assert without_entries(result) == {
        "e-clinic": [
            record("warning-added", "matched", "154.12.248.41", None, "imminent", matched, asset="154.12.224.0/19")
        ]
    }
    assert result["mistakes"] == [
        {
            "mistake": "shared-network",
            "subjects": ["e-clinic", "e-neighbour"],
            "values": ["154.12.224.0/19", "154.12.248.0/24"],
        }
    ]


def each_kev_warning(history: Path, result: dict[str, Any]) -> set[tuple[str, str, str | None, str | None, str]]:
    """What happened to each of e-chu's KEV warnings, the only ones an edit changed: (change, cause, before, after,
    rule as JSON) once each, checked to concern every CVE e-chu was warned of."""
    diffs = result["establishments"]["e-chu"]
    assert list(result["establishments"]) == ["e-chu"] and result["mistakes"] == []
    assert sorted(d["indicator"] for d in diffs) == warned_cves(history) and len(diffs) == 13
    assert {(d["type"], d["feed"], d["asset"], d["reason"]) for d in diffs} == {("cve", "kev", CITRIX, "kev-product")}
    return {(d["change"], d["cause"], d["before"], d["after"], json.dumps(d["rule"])) for d in diffs}


def test_software_removed_removes_each_of_its_warnings(history: Path, tmp_path: Path) -> None:
    software = '    software: [{vendor: Citrix, product: NetScaler ADC, version: "13.1-49.13"}]\n'
    result = what_if(history, edited(history, tmp_path, "establishments.yaml", software, ""))
    gone = {"asset": CITRIX, "reason": "kev-product"}
    assert each_kev_warning(history, result) == {("warning-removed", "not-matched", "high", None, json.dumps(gone))}


def test_a_raised_min_severity_removes_the_warnings_below_it(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "subscriptions.yaml", "min_severity: high", "min_severity: critical")
    unrouted = {"severity": "high", "rule": KEV_RULE}
    assert each_kev_warning(history, what_if(history, new)) == {
        ("warning-removed", "no-subscription", "high", None, json.dumps(unrouted))
    }


def test_a_digest_schedule_moves_what_is_not_imminent_to_the_digest(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "subscriptions.yaml", "delivery: immediate", 'delivery: {digest: "0 8 * * *"}')
    # The compromised addresses are imminent: told at once whatever the subscription says.
    route = {"subscription": "urgent", "min_severity": "high", "digest": "0 8 * * *", "severity": "high"}
    assert each_kev_warning(history, what_if(history, new)) == {
        ("to-digest", "subscription", "urgent", "urgent", json.dumps(route))
    }


def test_a_contact_added_is_a_recipient_added(history: Path, tmp_path: Path) -> None:
    old = "contacts: [{email: quiet@quiet-test.example}]"
    new = edited(history, tmp_path, "establishments.yaml", old, old[:-1] + ", {email: soc@quiet-test.example}]")
    result = what_if(history, new)
    contacts = {"severity": "imminent"}
    assert without_entries(result) == {
        "e-quiet": [record("recipient-added", "contacts", "94.72.104.77", None, "soc@quiet-test.example", contacts)]
    }
    assert result["mistakes"] == []


def test_an_inhibition_added_hides_imminent_findings_and_silences_an_establishment(
    history: Path, tmp_path: Path
) -> None:
    added = (
        "  - {indicator: 84.247.157.112, reason: scanner of the CHU}\n"
        "  - {establishment: e-clinic, reason: leaving the CERT}\n"
    )
    new = edited(history, tmp_path, "inhibitions.yaml", "inhibitions:\n", "inhibitions:\n" + added)
    result = what_if(history, new)
    where = {
        "84.247.157.112": f"{tmp_path / 'inhibitions.yaml'}:2:5",
        "154.12.233.66": f"{tmp_path / 'inhibitions.yaml'}:3:5",
    }
    where["154.12.236.248"] = where["154.12.233.66"]
    why = {
        "84.247.157.112": "scanner of the CHU",
        "154.12.233.66": "leaving the CERT",
        "154.12.236.248": "leaving the CERT",
    }

    def hidden(ip: str) -> dict[str, Any]:
        rule = {"inhibition": where[ip], "reason": why[ip], "severity": "imminent"}
        return record("newly-inhibited", "inhibition", ip, "alerted", "inhibited", rule)

    assert without_entries(result) == {
        "e-chu": [hidden("84.247.157.112")],
        "e-clinic": [hidden("154.12.233.66"), hidden("154.12.236.248")],
    }
    assert result["mistakes"] == [
        {"mistake": "silenced", "subjects": ["e-clinic"], "values": []},
        {"mistake": "inhibits-imminent", "subjects": ["e-chu"], "values": ["84.247.157.112", where["84.247.157.112"]]},
        {"mistake": "inhibits-imminent", "subjects": ["e-clinic"], "values": ["154.12.233.66", where["154.12.233.66"]]},
        {
            "mistake": "inhibits-imminent",
            "subjects": ["e-clinic"],
            "values": ["154.12.236.248", where["154.12.236.248"]],
        },
    ]


def test_an_inhibition_removed_tells_the_finding_again(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "inhibitions.yaml", INHIBITIONS, "inhibitions: []\n")
    result = what_if(history, new)
    rule = {"inhibition": f"{history.parent / 'inhibitions.yaml'}:2:5", "reason": "sinkhole of the SOC"}
    rule["severity"] = "imminent"
    assert without_entries(result) == {
        "e-quiet": [
            record(
                "no-longer-inhibited",
                "inhibition",
                "94.72.104.80",
                "inhibited",
                "alerted",
                rule,
                asset="94.72.104.0/24",
                reload="sent-now",  # held back since the first cycle: never told
            )
        ]
    }
    assert result["mistakes"] == []


def test_a_feeds_severity_changes_its_warnings_and_their_recipients(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "feeds.yaml", "kind: compromise\n", "kind: compromise\n    severity: critical\n")
    result = what_if(history, new)
    rule = {"before": {"kind": "compromise-reported"}, "after": {"kind": "feed-severity", "feed": "feodo"}}

    def lowered(ip: str) -> dict[str, Any]:
        return record("severity-changed", "severity-rule", ip, "imminent", "critical", rule)

    # The on-call contact asked for imminent warnings only: no longer woken for this one.
    oncall = record(
        "recipient-removed", "contacts", "84.247.157.112", "oncall@chu-test.example", None, {"severity": "critical"}
    )
    assert without_entries(result) == {
        "e-chu": [lowered("84.247.157.112"), oncall],
        "e-clinic": [lowered("154.12.233.66"), lowered("154.12.236.248")],
        "e-neighbour": [lowered("154.12.248.41")],
        "e-quiet": [lowered("94.72.104.77")],
    }
    assert result["mistakes"] == []


def test_a_subscription_that_selects_nobody_is_warned_of(history: Path, tmp_path: Path) -> None:
    regional = "  - {name: regional, establishments: {region: [Nowhere]}, min_severity: info}\n"
    result = what_if(history, edited(history, tmp_path, "subscriptions.yaml", SUBSCRIPTIONS, SUBSCRIPTIONS + regional))
    assert result["establishments"] == {}
    assert result["mistakes"] == [{"mistake": "idle-subscription", "subjects": ["regional"], "values": []}]


def test_the_same_configuration_makes_no_difference_in_text(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "alertd.yaml", "state_dir: state", "state_dir: state")
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "replayed the 1432 entries the feeds list now"
    assert lines[1:] == ["no difference: every establishment would get what it gets now"]


def test_the_text_names_each_change_and_its_rule(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19")
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new), "--establishment", "e-clinic")
    assert done.returncode == 4, done.stderr  # a likely mistake warned of: a reload script stops
    assert done.stdout.splitlines()[1:] == [
        "e-clinic (Test Clinic): 1 warning added; at the reload: 1 sent now",
        "  + warning [imminent]: 154.12.248.41 (ipv4, feodo 332a475c405289817201c23379b93dbd); the registry now "
        "matches it: 154.12.224.0/19 (address-in-network); at the reload: not told as matched now: the next poll "
        "sends it",
        "likely mistakes (1):",
        "  ! network 154.12.224.0/19 of e-clinic overlaps 154.12.248.0/24 of e-neighbour",
    ]


def test_an_unknown_establishment_or_an_invalid_edit_is_refused(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "subscriptions.yaml", "min_severity: high", "min_severity: high")
    done = alertd(history, "what-if", "--config", str(new), "--establishment", "e-nope")
    assert done.returncode == 2 and "no establishment has id 'e-nope' in either configuration" in done.stderr
    bad = edited(history, tmp_path, "subscriptions.yaml", "min_severity: high", "min_severity: urgentish")
    done = alertd(history, "what-if", "--config", str(bad))
    assert done.returncode == 1 and f"{tmp_path / 'subscriptions.yaml'}:2:" in done.stderr


def _digests(state: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(state.iterdir())
        if p.name.startswith("alertd.sqlite3") and p.name != "alertd.sqlite3-shm"
    }


def test_the_store_is_left_byte_for_byte_and_a_writers_transaction_does_not_stop_it(
    history: Path, tmp_path: Path
) -> None:
    state = history.parent / "state"
    before = _digests(state)
    assert "alertd.sqlite3" in before
    new = edited(history, tmp_path, "feeds.yaml", "kind: compromise\n", "kind: compromise\n    severity: critical\n")
    expected = what_if(history, new)
    assert _digests(state) == before
    # As the daemon would, another connection holds a write transaction while what-if reads.
    writer = sqlite3.connect(state / "alertd.sqlite3", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO meta (key, value) VALUES ('whatif-test', 'uncommitted')")
        assert what_if(history, new)["establishments"] == expected["establishments"]
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_the_summary_is_a_line_per_establishment_then_the_mistakes(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "feeds.yaml", "kind: compromise\n", "kind: compromise\n    severity: critical\n")
    (tmp_path / "establishments.yaml").write_text(ESTABLISHMENTS.replace("154.12.224.0/20", "154.12.224.0/19"))
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new), "--format", "summary")
    assert done.returncode == 4, done.stderr
    assert done.stdout.splitlines() == [
        "e-chu: 1 severity changed, 1 recipient removed; at the reload: 1 already told",
        "e-clinic: 1 warning added, 2 severities changed; at the reload: 1 sent now, 2 already told",
        "e-neighbour: 1 severity changed; at the reload: 1 already told",
        "e-quiet: 1 severity changed; at the reload: 1 already told",
        "! network 154.12.224.0/19 of e-clinic overlaps 154.12.248.0/24 of e-neighbour",
    ]


def test_since_replays_only_the_entries_first_seen_within_it(history: Path, tmp_path: Path) -> None:
    new = edited(history, tmp_path, "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19")
    args = ("--log-level", "warning", "what-if", "--config", str(new), "--format", "json", "--since", "0.000001s")
    done = alertd(history, *args)
    result = json.loads(done.stdout)
    assert done.returncode == exit_code(result) == 4, done.stderr
    # Nothing first seen in the last microsecond: no finding to tell apart; the registry's slip is still warned of.
    assert (result["entries"], result["establishments"]) == (0, {})
    assert [m["mistake"] for m in result["mistakes"]] == ["shared-network"]


def copied_history(history: Path, tmp_path: Path) -> Path:
    """A copy of the running configuration and its state, to poll again."""
    shutil.copytree(history.parent, tmp_path / "running")
    return tmp_path / "running" / "alertd.yaml"


def widened(running: Path, tmp_path: Path) -> dict[str, Any]:
    """What-if's JSON for e-clinic's /20 widened to a /19 (it then takes in e-neighbour's compromised address)."""
    (tmp_path / "new").mkdir()
    new = edited(running, tmp_path / "new", "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19")
    done = alertd(running, "--log-level", "warning", "what-if", "--config", str(new), "--format", "json")
    result: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == exit_code(result) == 4, done.stderr  # the shared network
    return result


def test_an_entry_the_feed_no_longer_lists_is_not_replayed(history: Path, tmp_path: Path) -> None:
    """A reload matches the entries listed now: one delisted since would be warned of by nobody."""
    running = copied_history(history, tmp_path)
    csv = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
    listed = tmp_path / "feodo.csv"
    listed.write_text("".join(line for line in csv.read_text().splitlines(True) if "154.12.248.41" not in line))
    feeds = running.parent / "feeds.yaml"
    feeds.write_text(feeds.read_text().replace(str(csv), str(listed)))
    done = alertd(running, "run", "--once")
    assert done.returncode == 0, done.stderr
    result = widened(running, tmp_path)
    assert (result["entries"], result["establishments"]) == (28 - 1 + 1404, {})
    assert [m["mistake"] for m in result["mistakes"]] == ["shared-network"]


def test_the_entries_of_a_feed_unchanged_for_weeks_are_replayed(history: Path, tmp_path: Path) -> None:
    """A poll answered "not modified" matches the entries again without refreshing their last sighting: the entries
    of a feed unchanged for 40 days are still what a reload matches."""
    running = copied_history(history, tmp_path)
    with sqlite3.connect(running.parent / "state" / "alertd.sqlite3") as db:
        db.execute("UPDATE observations SET last_seen = '2026-01-01T00:00:00+00:00'")  # what 40 days leave
    db.close()
    result = widened(running, tmp_path)
    assert result["entries"] == 28 + 1404
    assert [d["change"] for d in result["establishments"]["e-clinic"]] == ["warning-added"]


def test_a_feed_read_otherwise_is_said_not_to_be_replayed(history: Path, tmp_path: Path) -> None:
    """Its stored entries were parsed with the old kind: what-if cannot show the new one's effect, and says so."""
    new = edited(history, tmp_path, "feeds.yaml", "    kind: compromise\n", "    kind: exposure\n")
    result = what_if(history, new)
    assert result["mistakes"] == [{"mistake": "feed-reparsed", "subjects": ["feodo"], "values": ["28", "kind"]}]
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new))
    assert (
        done.stdout.splitlines()[1]
        == "no difference among the entries replayed; a feed's edit cannot be replayed (below)"
    )
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new), "--format", "summary")
    assert done.returncode == 4, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "! feed feodo: kind changed; its 28 stored entries were read under the old settings, so what it finds under "
        "the new ones is not shown here (see it after its next poll)"
    )


# -- what the reload sends: compared with a real cycle after the edit --------------------------------------------


@pytest.fixture(scope="module")
def backlog_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As :func:`history`, but both feeds keep their default ``backlog_after`` (30 days): the samples' entries are
    older, so the first cycle tells every establishment its findings in an inventory email."""
    tmp = tmp_path_factory.mktemp("whatif-backlog")
    feeds = FEEDS.replace("    backlog_after: never\n", "")
    return cycled(tmp, feeds, "new alerts queued: 18 (18 backlog, for the inventory)")


def reload_compared(
    history: Path, tmp_path: Path, name: str, old: str, new: str
) -> tuple[dict[tuple[str, str, str], str], list[tuple[str, str, bool]]]:
    """What-if's code of what the reload sends, per (establishment, change, indicator); then the edit applied for
    real to a copy of the running configuration and its state, a cycle run, and the alerts it queued:
    (establishment, indicator, in an inventory)."""
    running = copied_history(history, tmp_path)
    (tmp_path / "new").mkdir()
    edit = edited(running, tmp_path / "new", name, old, new)
    done = alertd(running, "--log-level", "warning", "what-if", "--config", str(edit), "--format", "json")
    result = json.loads(done.stdout)
    assert done.returncode == exit_code(result), done.stderr
    codes = {
        (est, d["change"], d["indicator"]): d["reload"]
        for est, diffs in result["establishments"].items()
        for d in diffs
    }
    database = running.parent / "state" / "alertd.sqlite3"
    with sqlite3.connect(database) as db:
        (last,) = db.execute("SELECT MAX(id) FROM alerts").fetchone()
    db.close()
    shutil.copy(tmp_path / "new" / name, running.parent / name)
    done = alertd(running, "run", "--once")
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT a.establishment, json_extract(f.body, '$.indicator[1]'), a.inventory FROM alerts a "
            "JOIN findings f ON f.key = a.finding WHERE a.id > ? ORDER BY a.establishment, a.id",
            (last,),
        ).fetchall()
    db.close()
    return codes, sorted((est, indicator, bool(inventory)) for est, indicator, inventory in rows)


def sent(codes: dict[tuple[str, str, str], str]) -> list[tuple[str, str, bool]]:
    """The alerts what-if says the reload queues, as :func:`reload_compared` lists the real ones."""
    return sorted(
        {(est, indicator, code == "inventory") for (est, _, indicator), code in codes.items() if code in SENDS}
    )


SENDS = ("sent-now", "inventory", "follow-up")


def test_a_severity_raised_for_findings_told_in_an_inventory_sends_nothing_now(
    backlog_history: Path, tmp_path: Path
) -> None:
    """Told in the inventory, still backlog: the reload does not tell them again, whatever their new severity."""
    codes, real = reload_compared(
        backlog_history, tmp_path, "feeds.yaml", "format: cisa-kev\n", "format: cisa-kev\n    severity: imminent\n"
    )
    assert len(codes) == 13
    assert {(est, change, code) for (est, change, _), code in codes.items()} == {
        ("e-chu", "severity-changed", "already-told")
    }
    assert real == sent(codes) == []


def test_an_establishments_new_id_is_told_in_an_inventory(backlog_history: Path, tmp_path: Path) -> None:
    """A new id is a first contact: its old findings are backlog, for the inventory, not warnings."""
    codes, real = reload_compared(backlog_history, tmp_path, "establishments.yaml", "id: e-neighbour", "id: e-new")
    assert codes == {
        ("e-neighbour", "warning-removed", "154.12.248.41"): "nothing-more",
        ("e-new", "warning-added", "154.12.248.41"): "inventory",
    }
    assert real == sent(codes) == [("e-new", "154.12.248.41", True)]


def test_a_network_widened_over_old_entries_is_told_in_an_inventory(backlog_history: Path, tmp_path: Path) -> None:
    codes, real = reload_compared(
        backlog_history, tmp_path, "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19"
    )
    assert codes == {("e-clinic", "warning-added", "154.12.248.41"): "inventory"}
    assert real == sent(codes) == [("e-clinic", "154.12.248.41", True)]


def test_a_network_widened_to_a_neighbour_never_told_is_sent_now(history: Path, tmp_path: Path) -> None:
    """No backlog (``backlog_after: never``): the neighbour's address is news to e-clinic, warned of at once."""
    codes, real = reload_compared(history, tmp_path, "establishments.yaml", "154.12.224.0/20", "154.12.224.0/19")
    assert codes == {("e-clinic", "warning-added", "154.12.248.41"): "sent-now"}
    assert real == sent(codes) == [("e-clinic", "154.12.248.41", False)]


def test_a_software_version_edited_is_one_line_per_warning_told_again_as_the_reload_does(
    history: Path, tmp_path: Path
) -> None:
    """The finding's key holds its asset: the reload tells each CVE again under the new version (a new asset, met
    for the first time; no backlog here), and what-if says so in one ``asset-changed`` line each, not a - and a +."""
    codes, real = reload_compared(history, tmp_path, "establishments.yaml", '"13.1-49.13"', '"13.1-49.15"')
    assert len(codes) == len(warned_cves(history)) == 13
    assert {(est, change, code) for (est, change, _), code in codes.items()} == {("e-chu", "asset-changed", "sent-now")}
    assert real == sent(codes)
    new = edited(history, tmp_path / "new", "establishments.yaml", '"13.1-49.13"', '"13.1-49.15"')
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new), "--format", "summary")
    assert (done.returncode, done.stdout) == (0, "e-chu: 13 assets changed; at the reload: 13 sent now\n")
    done = alertd(history, "--log-level", "warning", "what-if", "--config", str(new))
    assert done.stdout.splitlines()[2].startswith(
        "  ~ asset Citrix NetScaler ADC 13.1-49.13 -> Citrix NetScaler ADC 13.1-49.15: CVE-"
    )


def test_a_feed_file_copied_with_the_configuration_is_the_same_source(history: Path, tmp_path: Path) -> None:
    """An edited copy of the folder holds copies of its ``file://`` feeds: the same bytes are the same source (no
    likely mistake, exit 0); other bytes are another url, whose entries what-if cannot replay."""
    csv = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
    copy = tmp_path / "feodo.csv"
    shutil.copy(csv, copy)
    new = edited(history, tmp_path, "feeds.yaml", str(csv), str(copy))
    assert what_if(history, new)["mistakes"] == []
    copy.write_text(csv.read_text().replace("154.12.248.41", "154.12.248.42"))
    assert [m["values"] for m in what_if(history, new)["mistakes"]] == [["28", "url"]]
