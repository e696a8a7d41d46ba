"""The Jinja2 environment: the operator's templates over the bundled ones, and the CSS inliner for the HTML part.

The bundled templates are one set for every language (``alert.html.j2``, ``alert.txt.j2``, ``subject.txt.j2``):
every word in them comes from the catalogs of :mod:`~alertd.render.catalog`, in the language of the email being
rendered, so that a third language is one ``.po`` file. Templates read them with ``say("key", name=value)`` (the
message ``key`` of context ``bulletin``, its ``{name}`` placeholders filled), ``say_n("key", n, ...)`` (the same,
in the plural form for ``n``), or Jinja2's i18n extension: ``{{ pgettext("feed-kind", "leak") }}``,
``{% trans %}...{% endtrans %}``.

The only I/O of rendering is the template loader reading files; the inliner never fetches a stylesheet.
"""

from __future__ import annotations

from pathlib import Path

import css_inline
import jinja2
from babel.support import Translations
from jinja2.runtime import Context

from alertd.render import catalog
from alertd.render.bulletin import breakable
from alertd.render.defang import defang


def _bundled_templates() -> Path:
    """The templates shipped with alertd: inside the installed package, or the checkout's ``templates/``."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


BUNDLED_TEMPLATES = _bundled_templates()


def make_environment(templates_dir: Path | None) -> jinja2.Environment:
    """A Jinja2 environment over the operator's templates folder (if any), then the bundled templates.

    A file in ``templates_dir`` overrides the bundled file of the same name (``subject.txt.j2``...), and a file
    in a language's folder overrides it for that language only (``fr/subject.txt.j2``). HTML templates
    (``*.html.j2``) are autoescaped, text templates are not; an undefined variable is an error. A template is
    read once: an edit takes effect with the next environment (a reload).
    """
    search = [str(templates_dir)] if templates_dir is not None else []
    search.append(str(BUNDLED_TEMPLATES))
    env = _Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
        # Templates are part of the configuration: read once, swapped whole at a reload (contract, "Reload"), never
        # stat-ed again for each email.
        auto_reload=False,
    )
    env.filters["defang"] = defang
    env.filters["breakable"] = breakable
    env.globals["say"] = _say
    env.globals["say_n"] = _say_n
    # Old-style callables: the words come back as plain text (autoescaped in HTML like any value), and no "%" in
    # them is taken for a placeholder.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=False, pgettext=_pgettext, npgettext=_npgettext
    )
    return env


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """Jinja2's environment, reading ``item.name`` of a dict without first raising AttributeError.

    ``{{ alert.title }}`` asks ``getattr(alert, "title")`` first, then ``alert["title"]``: with the render
    context's dicts the first always fails, and an exception for each of an email's ~350 lookups is a tenth of its
    rendering. A name that is not an attribute of a dict is looked up as a key first: what Jinja2 would find in the
    end, sooner; ``items`` and the other dict attributes are left to Jinja2, as before.
    """

    def getattr(self, obj: object, attribute: str) -> object:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _translations(context: Context) -> Translations:
    """The catalog of the email being rendered: its context's ``lang``."""
    return catalog.words(str(context.get("lang", catalog.DEFAULT_LANGUAGE))).translations


BULLETIN = "bulletin"  # the catalogs' context of the templates' own words


@jinja2.pass_context
def _say(context: Context, key: str, **values: object) -> str:
    """The words of ``key`` (context ``bulletin``) with their placeholders filled; a key without words is an
    error, as an undefined variable is."""
    return catalog.words(str(context.get("lang", catalog.DEFAULT_LANGUAGE))).word(BULLETIN, key).format(**values)


@jinja2.pass_context
def _say_n(context: Context, key: str, n: int, **values: object) -> str:
    """The words of ``key`` in the plural form the language uses for ``n``, ``{n}`` and the others filled."""
    words = catalog.words(str(context.get("lang", catalog.DEFAULT_LANGUAGE)))
    if not words.has(BULLETIN, key):
        raise KeyError(f"no {words.language} words for {BULLETIN} {key!r}")
    return str(words.translations.npgettext(BULLETIN, key, key, n)).format(n=n, **values)


@jinja2.pass_context
def _gettext(context: Context, message: str) -> str:
    return str(_translations(context).gettext(message))


@jinja2.pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(_translations(context).ngettext(singular, plural, n))


@jinja2.pass_context
def _pgettext(context: Context, msgctxt: str, message: str) -> str:
    return str(_translations(context).pgettext(msgctxt, message))


@jinja2.pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return str(_translations(context).npgettext(msgctxt, singular, plural, n))


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
