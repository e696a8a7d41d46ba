"""The shipped systemd unit: `systemd-analyze verify` passes, `systemd-analyze security` rates it 2.5 or lower."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import ROOT

UNIT = ROOT / "systemd" / "alertd.service"
ALERTD = Path(sys.executable).parent / "alertd"
MAX_EXPOSURE = 2.5

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (systemd package)"
)


def directives(text: str) -> list[tuple[str, str]]:
    """(key, value) of every assignment in the unit, in order."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def installable_copy(tmp_path: Path) -> Path:
    """The unit with its commands pointing at this venv's ``alertd`` and its credential at a file that exists.

    ``verify`` refuses a unit whose ExecStart binary is missing, and /usr/local/bin/alertd is where an operator
    installs it, not where the tests run.
    """
    credential = tmp_path / "smtp-password"
    credential.write_text("not-a-real-password\n")
    credential.chmod(0o600)
    lines = []
    for line in UNIT.read_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStartPre"):
            _binary, _, arguments = value.partition(" ")
            line = f"{key}={ALERTD} {arguments}"
        elif key == "LoadCredential":
            name, _, _path = value.partition(":")
            line = f"{key}={name}:{credential}"
        lines.append(line)
    copy = tmp_path / UNIT.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "--no-pager", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_unit_says_what_contract_6_asks() -> None:
    found = dict(directives(UNIT.read_text()))
    assert found["Type"] == "notify"  # not notify-reload: systemd 252 does not have it
    assert found["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(found["WatchdogSec"]) > 0
    assert found["Restart"] == "on-failure"
    assert found["DynamicUser"] == "yes"
    assert found["StateDirectory"] == "alertd"
    assert found["ConfigurationDirectory"] == "alertd"
    assert found["LoadCredential"].startswith("smtp-password:")
    assert found["ExecStart"].endswith(" run")
    assert found["ExecStartPre"].endswith(" check")
    families = found["RestrictAddressFamilies"].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    # Feeds live on arbitrary servers: no allow-list of addresses, and nothing routable is denied.
    assert "IPAddressAllow" not in found
    assert set(found.get("IPAddressDeny", "").split()) <= {"link-local", "multicast"}
    assert "PrivateNetwork" not in found


@needs_systemd_analyze
def test_verify_passes(tmp_path: Path) -> None:
    copy = installable_copy(tmp_path)
    result = analyze("verify", str(copy))
    # verify exits 0 on unknown keys and unparsable values, which it only reports: any line about the unit fails.
    about_unit = [line for line in result.stderr.splitlines() if copy.name in line]
    assert result.returncode == 0, result.stderr
    assert about_unit == [], result.stderr


@needs_systemd_analyze
def test_verify_catches_a_typo(tmp_path: Path) -> None:
    # The check above would be worthless if verify stayed silent about a misspelt directive.
    copy = installable_copy(tmp_path)
    copy.write_text(copy.read_text().replace("ProtectClock=yes", "ProtectClok=yes"))
    result = analyze("verify", str(copy))
    assert "ProtectClok" in result.stderr


@needs_systemd_analyze
def test_security_exposure_is_ok(tmp_path: Path) -> None:
    copy = installable_copy(tmp_path)
    threshold = str(round(MAX_EXPOSURE * 10))  # --threshold counts in tenths of the printed level
    result = analyze("security", "--offline=true", f"--threshold={threshold}", str(copy))
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
