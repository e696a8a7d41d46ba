"""The ``links`` section of ``alertd.yaml``: the CERT's other sites an email may link to, checked as written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError
from alertd.render.links import allowed_domains

EXAMPLE = ROOT / "config"


@pytest.fixture
def alertd_yaml(tmp_path: Path) -> Path:
    """A writable copy of the example configuration's alertd.yaml (the other files beside it)."""
    dest = tmp_path / "config"
    shutil.copytree(EXAMPLE, dest)
    return dest / "alertd.yaml"


def test_without_the_section_the_cert_s_configured_urls_and_addresses_are_its_domains() -> None:
    settings = load_config(EXAMPLE / "alertd.yaml").settings
    assert settings.link_domains == frozenset()
    allowed = allowed_domains(settings.render)
    assert {"cert-sante.example", "signalement.social-sante.gouv.fr", "nvd.nist.gov"} <= allowed


def test_allowed_domains_are_read_lower_cased(alertd_yaml: Path) -> None:
    alertd_yaml.write_text(
        alertd_yaml.read_text() + "links:\n  allowed_domains: [Portail.CERT-sante.example, xn--sant-dpa.example.]\n"
    )
    settings = load_config(alertd_yaml).settings
    assert settings.link_domains == {"portail.cert-sante.example", "xn--sant-dpa.example"}
    assert settings.render.link_domains == settings.link_domains


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("links:\n  allowed_domains: [https://cert-sante.example/]\n", "is not a domain name"),
        ("links:\n  allowed_domains: [\u0441ert-sante.example]\n", "is not a domain name"),
        ("links:\n  allowed_domains: [localhost]\n", "is not a domain name"),
        ("links:\n  hosts: [cert-sante.example]\n", "hosts"),
    ],
)
def test_a_wrong_value_is_refused(alertd_yaml: Path, section: str, message: str) -> None:
    alertd_yaml.write_text(alertd_yaml.read_text() + section)
    with pytest.raises(ConfigError) as raised:
        load_config(alertd_yaml)
    assert message in str(raised.value)
