"""UI languages: gettext catalogues read from the ``.po`` files at start-up.

The catalogues live in ``locale/<locale>/LC_MESSAGES/*.po`` (msgids in English): ``messages.po``
and one file per domain that keeps its own.
They are compiled in memory, so no ``.mo`` binaries are kept in the repository. The
language of a request is the ``lang`` cookie, else the best match in Accept-Language,
else zh-CN. To refresh the catalogues after changing UI text, see ``locale/README.md``.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")
LANG_COOKIE = "lang"
# What the cookie and <html lang> say, per locale.
TAGS = {"zh_CN": "zh-CN", "en": "en"}


@cache
def translations(locale: str) -> Translations:
    """The catalogue of ``locale`` (one of ``LOCALES``), compiled once per process."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}")
    # messages.po, plus one catalogue per domain that keeps its own (e.g. campaigns.po).
    catalog = None
    for path in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with open(path, "rb") as f:
            part = read_po(f, locale=locale)
        if catalog is None:
            catalog = part
        else:
            for message in part:
                if message.id:
                    catalog[message.id] = message
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


# Primary language subtags we have a catalogue for, and that catalogue.
_PRIMARY = {"zh": "zh_CN", "en": "en"}


def match(tag: str | None) -> str | None:
    """The locale for a language tag such as ``zh-CN``, ``zh_Hans``, ``en-GB``, or None."""
    return _best([tag] if tag else [])


def _best(tags: list[str]) -> str | None:
    """The locale of the first tag whose language we have (Babel matches ``xx-YY`` by ``xx``)."""
    preferred = [t.strip().replace("_", "-") for t in tags if t and t.strip()]
    found = negotiate_locale(preferred, list(_PRIMARY), sep="-", aliases=None)
    return _PRIMARY[found.split("-")[0].lower()] if found else None


def _accepted(header: str) -> list[str]:
    """Accept-Language tags, best first (ties keep their order)."""
    ranked = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The ``lang`` cookie's locale, else the best in Accept-Language, else ``DEFAULT``."""
    return _best([cookie or "", *_accepted(accept_language or "")]) or DEFAULT


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated later, where it is shown."""
    return message
