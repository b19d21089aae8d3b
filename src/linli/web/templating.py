"""The Jinja2 environment of the pages, with gettext from the render context.

One environment serves every request. ``gettext`` / ``ngettext`` are installed as
context-aware callables that read the ``translations`` variable each render is given, so
two requests in two languages never share state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from linli import __version__
from linli.identity.rules import mask_phone
from linli.money import format_yuan
from linli.timeutil import local_time

TEMPLATE_DIR = Path(__file__).parent / "templates"


@pass_context
def _gettext(ctx: Context, message: str) -> str:
    return ctx["translations"].gettext(message)


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    return ctx["translations"].ngettext(singular, plural, n)


def static_url(path: str) -> str:
    """A static file's URL; the version busts browser caches after an upgrade."""
    return f"/static/{path.lstrip('/')}?v={__version__}"


def _build() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = static_url
    env.filters["mask_phone"] = mask_phone
    env.filters["yuan"] = format_yuan
    env.filters["local_time"] = local_time
    env.filters["percent"] = lambda bp: f"{bp / 100:g}%"  # basis points, 1250 → 12.5%
    return env


env = _build()


def render(name: str, context: dict[str, Any]) -> str:
    """Render ``name``; ``context`` must hold ``translations`` (see ``linli.i18n``)."""
    return env.get_template(name).render(context)
