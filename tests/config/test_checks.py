"""``alertd check`` warns, without failing, on over-broad networks, public suffixes as domains, and a name written
inside another establishment's; each warning at the value's file:line:col."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config

EXTRA = """\
  - id: e-broad
    name: Hôpital de Lisière
    contacts: [{email: rssi@lisiere.example}]
    networks: [0.0.0.0/0, "::/0", 10.0.0.0/7, 10.0.0.0/8, "2001:db8::/31", "2001:db8::/32"]
    domains: [gouv.fr, co.uk, github.io, sante.gouv.fr, lisiere.example]
  - id: e-nord
    name: CH Nord
    contacts: [{email: rssi@ch-nord.example}]
  - id: e-nord-ouest
    name: Centre hospitalier Nord-Ouest
    aliases: [CH Nord Ouest]
    contacts: [{email: rssi@ch-nord-ouest.example}]
"""


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """The example configuration with EXTRA's establishments appended to its registry; the registry file."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "config" / "establishments" / "example.yaml"
    path.write_text(path.read_text() + EXTRA)
    return path


def _warnings(registry: Path) -> list[str]:
    config = load_config(registry.parent.parent / "alertd.yaml")
    return [str(w) for w in config.warnings]


def _line_col(registry: Path, needle: str) -> str:
    lines = registry.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if needle in line and number > len(lines) - EXTRA.count("\n"):
            return f"{registry}:{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def test_networks_broader_than_a_slash_8_or_a_slash_32_are_warned_of(registry: Path) -> None:
    found = [w for w in _warnings(registry) if ": network " in w]
    assert len(found) == 4, found
    for net in ("0.0.0.0/0", "::/0", "10.0.0.0/7", "2001:db8::/31"):
        (warning,) = [w for w in found if f"network {net} is broader" in w]
        assert warning.startswith(_line_col(registry, net) + ": warning: establishment 'e-broad'")
    assert not any("10.0.0.0/8 " in w or "2001:db8::/32 " in w for w in found)


def test_public_suffixes_as_domains_are_warned_of(registry: Path) -> None:
    found = [w for w in _warnings(registry) if "public suffix" in w]
    assert sorted(w.split("domain ")[1].split(" ")[0] for w in found) == ["co.uk", "github.io", "gouv.fr"]
    (gouv,) = [w for w in found if "domain gouv.fr" in w]
    assert gouv.startswith(_line_col(registry, "gouv.fr") + ": warning: establishment 'e-broad'")


def test_a_name_inside_another_establishments_name_needs_no_warning(registry: Path) -> None:
    # "CH Nord" is inside "Centre hospitalier Nord-Ouest" ("CH" and "Centre hospitalier" are one word to the
    # matcher), but the longest name found in a text wins: a mention of the longer one is not one of the shorter.
    assert not [w for w in _warnings(registry) if "CH Nord" in w]


def test_the_example_registry_has_none_of_these_warnings() -> None:
    assert load_config(ROOT / "config" / "alertd.yaml").warnings == ()


def test_check_prints_the_warnings_and_still_succeeds(registry: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alertd", "-c", str(registry.parent.parent / "alertd.yaml"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "valid — 4 feeds, 7 establishments" in result.stdout
    warned = result.stderr.splitlines()
    assert len(warned) == 7 and all(line.startswith(f"{registry}:") and ": warning: " in line for line in warned)
