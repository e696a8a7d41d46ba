"""The Jinja2 environment: the operator's templates over the bundled ones, and the CSS inliner for the HTML part.

The only I/O of rendering is the template loader reading files; the inliner never fetches a stylesheet.
"""

from __future__ import annotations

from pathlib import Path

import css_inline
import jinja2

from alertd.render.defang import defang


def _bundled_templates() -> Path:
    """The templates shipped with alertd: inside the installed package, or the checkout's ``templates/``."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


BUNDLED_TEMPLATES = _bundled_templates()


def make_environment(templates_dir: Path | None) -> jinja2.Environment:
    """A Jinja2 environment over the operator's templates folder (if any), then the bundled templates.

    A file in ``templates_dir`` overrides the bundled file of the same name (``fr/subject.txt.j2``...). HTML
    templates (``*.html.j2``) are autoescaped, text templates are not; an undefined variable is an error.
    """
    search = [str(templates_dir)] if templates_dir is not None else []
    search.append(str(BUNDLED_TEMPLATES))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["defang"] = defang
    return env


_INLINER = css_inline.CSSInliner(
    inline_style_tags=True,
    keep_style_tags=False,  # many mail clients drop <style>; everything is moved into style attributes
    keep_link_tags=False,
    load_remote_stylesheets=False,  # rendering stays pure: never fetch anything
)


def inline_css(html: str) -> str:
    """Move the rules of ``<style>`` blocks into ``style`` attributes, and drop the blocks (and any ``<link>``)."""
    try:
        return _INLINER.inline(html)
    except (css_inline.InlineError, ValueError) as exc:
        raise ValueError(f"cannot inline the CSS of the HTML template: {exc}") from exc
