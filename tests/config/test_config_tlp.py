"""The TLP markings of ``alertd.yaml`` and ``feeds.yaml``: read as :class:`Tlp`, a feed's default the settings'."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.domain.tlp import Tlp

EXAMPLE = ROOT / "config"


def test_the_example_config_reads_as_markings() -> None:
    config = load_config(EXAMPLE / "alertd.yaml")
    assert config.settings.tlp is Tlp.AMBER
    assert [(f.id, f.tlp) for f in config.feeds] == [
        ("feodo", Tlp.AMBER),  # says none: the settings' marking
        ("cisa-kev", Tlp.CLEAR),
        ("cisco-csaf", Tlp.CLEAR),
        ("certfr-alertes", Tlp.CLEAR),
    ]
    assert all(type(f.tlp) is Tlp for f in config.feeds)


def test_a_feed_without_a_marking_takes_the_settings_one(cfg: Path) -> None:
    alertd = cfg / "alertd.yaml"
    alertd.write_text(alertd.read_text().replace("tlp: amber ", "tlp: amber+strict "))
    config = load_config(alertd)
    assert config.settings.tlp is Tlp.AMBER_STRICT
    assert config.feed("feodo").tlp is Tlp.AMBER_STRICT
    assert config.feed("cisa-kev").tlp is Tlp.CLEAR


def test_without_any_marking_every_feed_is_amber(cfg: Path) -> None:
    alertd = cfg / "alertd.yaml"
    alertd.write_text("\n".join(line for line in alertd.read_text().splitlines() if not line.startswith("tlp:")))
    config = load_config(alertd)
    assert config.settings.tlp is Tlp.AMBER
    assert config.feed("feodo").tlp is Tlp.AMBER


@pytest.mark.parametrize("written", ["white", "TLP:AMBER", "amber-strict", "Red", "something-odd"])
def test_config_accepts_only_the_contract_spellings(cfg: Path, written: str) -> None:
    # Contract: the markings are clear, green, amber, amber+strict, red. The aliases a feed may write are read
    # (Tlp.parse), but an operator's typo is an error to fix, not a RED or CLEAR nobody asked for.
    alertd = cfg / "alertd.yaml"
    alertd.write_text(alertd.read_text().replace("tlp: amber ", f"tlp: '{written}' "))
    feeds = cfg / "feeds.yaml"
    feeds.write_text(feeds.read_text().replace("    tlp: clear\n", f"    tlp: '{written}'\n", 1))
    with pytest.raises(ConfigError) as info:
        load_config(alertd)
    found = [str(p) for p in info.value.problems]
    allowed = "allowed: clear, green, amber, amber+strict, red"
    # A near miss names the marking meant before the list: "'tlp' is 'Red' (did you mean 'red'?); allowed: ..."
    for where in (f"{alertd}:10:6", f"{feeds}:14:10"):
        assert any(p.startswith(f"{where}: 'tlp' is {written!r}") and p.endswith(allowed) for p in found), found
