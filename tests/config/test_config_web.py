"""``web`` in ``alertd.yaml`` (contract §2): absent changes nothing; the operator's values; mistakes at their place."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import ConfigError

WEB = "web: {listen: '127.0.0.1:9110', base_url: 'https://alertes.cert-sante.example/reponse/'}\n"


@pytest.fixture
def alertd_yaml(tmp_path: Path) -> Path:
    """The example's alertd.yaml without its ``web`` section (the last one)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "config" / "alertd.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("\nweb:") + 1])
    return path


def with_web(path: Path, text: str) -> Path:
    path.write_text(path.read_text() + text)
    return path


def test_without_web_there_is_no_page(alertd_yaml: Path) -> None:
    assert load_config(alertd_yaml).settings.web is None


def test_the_example_has_a_demo_page_on_loopback() -> None:
    web = load_config(ROOT / "config" / "alertd.yaml").settings.web
    assert web is not None and web.key_file == ROOT / "config" / "ack-link-key.demo"
    assert (web.listen, web.base_url) == ("127.0.0.1:9110", "http://127.0.0.1:9110/reponse")


def test_the_defaults_a_month_thirty_requests_a_minute_and_the_systemd_credential(alertd_yaml: Path) -> None:
    web = load_config(with_web(alertd_yaml, WEB)).settings.web
    assert web is not None
    assert web.base_url == "https://alertes.cert-sante.example/reponse"  # the trailing slash dropped
    assert (web.listen, web.key, web.key_file) == ("127.0.0.1:9110", "ack-link-key", None)
    assert (web.link_ttl, web.rate_limit, web.trusted_proxies) == (timedelta(days=30), "30/minute", ())
    assert web.proposal_expiry == timedelta(days=90)


def test_the_operator_chooses(alertd_yaml: Path) -> None:
    text = (
        "web: {listen: '[::1]:9110', base_url: 'https://a.example/r', key: link-key, key_file: secrets/link.key,\n"
        "      link_ttl: 14d, rate_limit: 10/minute, trusted_proxies: [127.0.0.1, 10.0.0.0/8], proposal_expiry: 4w}\n"
    )
    web = load_config(with_web(alertd_yaml, text)).settings.web
    assert web is not None
    assert (web.key, web.key_file) == ("link-key", alertd_yaml.parent / "secrets" / "link.key")
    assert (web.link_ttl, web.rate_limit) == (timedelta(days=14), "10/minute")
    assert web.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    assert web.proposal_expiry == timedelta(weeks=4)


@pytest.mark.parametrize(
    ("text", "said", "line"),
    [
        ("web: {listen: 'nowhere', base_url: 'https://a.example/r'}\n", "web.listen 'nowhere'", 0),
        ("web: {listen: ':9110', base_url: 'https://a.example/r'}\n", "web.listen ':9110': no address", 0),
        ("web: {listen: '127.0.0.1:9110', base_url: 'a.example/r'}\n", "'a.example/r': give the page's address", 0),
        ("web: {listen: '127.0.0.1:9110', base_url: 'https://a.example/?x=1'}\n", "no query", 0),
        ("web: {listen: '127.0.0.1:9110'}\n", "base_url", 0),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  link_ttl: 2y\n", "link_ttl", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  link_ttl: 400d\n", "1d to 366d", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  rate_limit: lots\n", "30/minute", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  proposal_expiry: 0d\n", "1d to", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  proposal_expiry: x\n", "proposal_exp", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  key: ../x\n", "credential", 3),
        ("web:\n  listen: 127.0.0.1:9110\n  base_url: https://a.example/r\n  trusted_proxies: [x]\n", "'x'", 3),
        ("web: {listen: '127.0.0.1:9110', base_url: 'https://a.example/r', ttl: 1d}\n", "ttl", 0),
    ],
)
def test_mistakes_are_told_at_their_place(alertd_yaml: Path, text: str, said: str, line: int) -> None:
    first = len(alertd_yaml.read_text().splitlines()) + 1
    with pytest.raises(ConfigError) as refused:
        load_config(with_web(alertd_yaml, text))
    found = [p for p in refused.value.problems if said in str(p) and p.file == str(alertd_yaml)]
    assert found, refused.value
    assert found[0].line == first + line, found[0]
