"""The ``bulletin`` section of ``alertd.yaml``: the reference prefix and how to reach the CERT, checked as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.settings import DEFAULT_BULLETIN, BulletinSettings

EXAMPLE = ROOT / "config"


def _with_bulletin(cfg: Path, section: str) -> Path:
    """The copy's alertd.yaml with its ``bulletin`` section replaced by ``section`` (YAML lines, or nothing)."""
    alertd = cfg / "alertd.yaml"
    kept, skipping = [], False
    for line in alertd.read_text().splitlines():
        if line.startswith("bulletin:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        kept.append(line)
    alertd.write_text("\n".join(kept) + "\n" + section)
    return alertd


def test_the_example_presents_the_cert() -> None:
    bulletin = load_config(EXAMPLE / "alertd.yaml").settings.render.bulletin
    assert bulletin == BulletinSettings(
        reference_prefix="CERTSANTE",
        phone="+33 1 00 00 00 00",
        on_call="+33 6 00 00 00 00",
        incident_url="https://signalement.social-sante.gouv.fr/",
    )


def test_without_the_section_the_defaults_hold(cfg: Path) -> None:
    config = load_config(_with_bulletin(cfg, ""))
    assert config.settings.bulletin == DEFAULT_BULLETIN
    assert config.settings.render.bulletin.reference_prefix == "ALERTD"
    assert config.settings.render.bulletin.phone is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("bulletin:\n  reference_prefix: cert-santé\n", "reference prefix 'cert-santé'"),
        ("bulletin:\n  reference_prefix: -CERT\n", "reference prefix '-CERT'"),
        ("bulletin:\n  phone: call us\n", "'call us' is not a phone number"),
        ("bulletin:\n  on_call: '+33 6 <script>'\n", "is not a phone number"),
        ("bulletin:\n  incident_url: http://signalement.example/\n", "must be an https:// URL"),
        ("bulletin:\n  fax: '+33 1 23 45 67 89'\n", "fax"),
    ],
)
def test_a_wrong_value_names_its_place(cfg: Path, section: str, message: str) -> None:
    alertd = _with_bulletin(cfg, section)
    line = len(alertd.read_text().splitlines()) - section.count("\n") + 2  # the section's second line
    with pytest.raises(ConfigError) as raised:
        load_config(alertd)
    text = str(raised.value)
    assert f"{alertd}:{line}:" in text and message in text
