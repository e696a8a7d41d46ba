"""The Jinja2 environment: autoescape, operator templates over the bundled ones, the CSS inlined."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from builders import (
    ENV,
    IPV4,
    NOW,
    SETTINGS,
    bodies,
    make_alert,
    many_alerts,
    parsed,
    render,
)

from alertd.domain.establishments import Establishment
from alertd.render.context import email_context
from alertd.render.environment import make_environment


def test_html_templates_are_autoescaped_and_text_ones_are_not() -> None:
    html = ENV.get_template("alert.html.j2")
    text = ENV.get_template("subject.txt.j2")
    assert html.render(_context_with_name("<i>")).count("&lt;i&gt;") >= 1
    assert "<i>" in text.render(_context_with_name("<i>"))


def _context_with_name(name: str) -> dict[str, object]:
    est = Establishment(id="1", name=name)
    return email_context(est, [make_alert(IPV4, est_id="1")], SETTINGS.render, NOW)


def test_operator_templates_override_the_bundled_ones(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("Custom {{ establishment.name }} {{ count }}\n")
    env = make_environment(tmp_path)
    for language in ("fr", "en"):
        msg = render([make_alert(IPV4)], language=language, env=env)
        assert parsed(msg)["Subject"] == "Custom CHU de Bordeaux 1"
        # The other templates still come from the bundled folder.
        text, _html = bodies(msg)
        assert "147[.]210[.]1[.]5" in text


def test_an_operator_template_in_a_language_folder_overrides_for_that_language_only(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "subject.txt.j2").write_text("Custom {{ establishment.name }} {{ count }}\n")
    env = make_environment(tmp_path)
    assert parsed(render([make_alert(IPV4)], language="en", env=env))["Subject"] == "Custom CHU de Bordeaux 1"
    assert parsed(render([make_alert(IPV4)], language="fr", env=env))["Subject"].startswith("[TLP:AMBER] [IMMINENT]")


def test_undefined_variables_are_errors(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ no_such_thing }}")
    with pytest.raises(jinja2.UndefinedError):
        render([make_alert(IPV4)], language="en", env=make_environment(tmp_path))


def test_the_style_block_is_inlined() -> None:
    for language in ("fr", "en"):
        _text, html = bodies(render(many_alerts(), language=language))
        assert "<style" not in html
        assert 'class="label" style="display: inline-block;width: 170px;' in html
        assert "font-family: Arial, Helvetica, sans-serif" in html


def test_an_operator_template_cannot_make_rendering_fetch_a_stylesheet(tmp_path: Path) -> None:
    (tmp_path / "alert.html.j2").write_text(
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"><style>p { color: red }</style></head>'
        "<body><p>{{ count }}</p></body></html>"
    )
    _text, html = bodies(render([make_alert(IPV4)], language="en", env=make_environment(tmp_path)))
    assert '<p style="color: red;">1</p>' in html
    assert "<link" not in html
