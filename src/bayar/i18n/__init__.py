"""What people read, in their language: one gettext catalog per language (`locales/<lang>/
LC_MESSAGES/bayar.po`, Babel's format) for templates, Python messages and the pages' scripts.

The language of a request is chosen by `middleware.LanguageMiddleware` (the person's choice, then
Accept-Language, then BAYAR_DEFAULT_LANGUAGE) and held in a context variable for the code that
renders the answer: `gettext` and the formatters read it. The catalogs are read from the `.po`
files and compiled in memory on first use, so a source checkout and `pip install -e .` need no
build step. Amounts are `Rp 7.000` and times WIB (UTC+7, no daylight saving) in every language.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment
from starlette.requests import HTTPConnection

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "bayar"
LANGUAGES = ("id", "en")
DEFAULT = "id"
# What the toggle says: each language named in itself.
NAMES = {"id": "Bahasa Indonesia", "en": "English"}
# `?lang=en` on any page chooses a language; the cookie remembers the choice.
QUERY = "lang"
COOKIE = "bayar_lang"
WIB = timezone(timedelta(hours=7), "WIB")
DATE_PATTERNS = {"id": "d MMM y, HH.mm", "en": "d MMM y, HH:mm"}

_language: ContextVar[str] = ContextVar("bayar_language", default=DEFAULT)


def supported(code: str | None) -> str | None:
    """`code` as one of LANGUAGES ("en-US" → "en", "ID" → "id"); None if bayar does not speak it."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else None


_ACCEPT_ITEM = re.compile(
    r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([^\s;]*))?\s*"
)


def from_accept_language(header: str | None) -> str | None:
    """The first language of an Accept-Language header that bayar speaks, by quality."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header[:1000].split(",")):
        match = _ACCEPT_ITEM.fullmatch(item)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue  # a malformed weight: the item says nothing
        code = supported(match.group(1))
        if code is not None and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def current() -> str:
    """The language of what is being rendered now."""
    return _language.get()


@contextlib.contextmanager
def use(language: str) -> Iterator[None]:
    """Render in `language` within the block (the middleware does this for each request)."""
    token = _language.set(supported(language) or DEFAULT)
    try:
        yield
    finally:
        _language.reset(token)


def activate(language: str) -> None:
    """Set the language of the current context (a request's task) until it ends."""
    _language.set(supported(language) or DEFAULT)


@cache
def translations(language: str) -> Translations:
    """The catalog of `language`, compiled in memory from its `.po` file."""
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(message: str, **values: Any) -> str:
    """`message` in the current language, then `%(name)s` placeholders filled from `values`."""
    text = translations(current()).gettext(message)
    return text % values if values else text


_ = gettext


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    """The form of `n` (Indonesian has one); `%(num)s` is `n`."""
    text = translations(current()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; `gettext` translates it where used."""
    return message


def catalog_json(language: str, *scripts: str) -> dict[str, str]:
    """The messages `scripts` use (paths under src/bayar, as the catalog records where each message
    is used), msgid → text in `language`: a page embeds this for its script, which looks its
    words up here (`t(msgid)`) instead of carrying strings of its own."""
    catalog = translations(language)
    return {msgid: catalog.gettext(msgid) for msgid in _used_by(language, scripts)}


@cache
def _used_by(language: str, scripts: tuple[str, ...]) -> tuple[str, ...]:
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    return tuple(
        str(m.id)
        for m in catalog
        if isinstance(m.id, str) and m.id and any(f in scripts for f, _line in m.locations)
    )


def rupiah(amount: int) -> str:
    """Rp 7.000 in every language (rupiah are written the Indonesian way everywhere)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}Rp {format_decimal(abs(amount), format='#,##0', locale='id')}"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def wib(moment: datetime | None) -> str:
    """6 Des 2026, 15.17 WIB (id) · 6 Dec 2026, 15:17 WIB (en); "—" for no time."""
    if moment is None:
        return "—"
    language = current()
    text = format_datetime(aware(moment), DATE_PATTERNS[language], tzinfo=WIB, locale=language)
    return f"{text} WIB"


def switch_to() -> str:
    """The other language: what the toggle offers."""
    return "en" if current() == "id" else "id"


def script_words(*scripts: str) -> dict[str, str]:
    """`catalog_json` of `scripts` in the language of the page being rendered."""
    return catalog_json(current(), *scripts)


def _template_gettext(message: str) -> str:
    return translations(current()).gettext(message)


def _template_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def lang_url(request: HTTPConnection, language: str) -> str:
    """The address of the page `request` shows, in `language` (the toggle's link): the same query
    with `lang` set, which the middleware remembers in a cookie."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != QUERY]
    query.append((QUERY, language))
    return f"?{urlencode(query)}"  # relative: right under any mount (/sandbox) or proxy prefix


def install(env: Environment) -> None:
    """Gives a template environment `_()`, `{% trans %}`, the formatters and the toggle's helpers.
    Templates format with `_("%(n)s left", n=…)` (Jinja's new-style gettext: escaped, and a
    literal percent sign is written `%%`)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_template_gettext, ngettext=_template_ngettext, newstyle=True
    )
    env.globals.update(
        lang=current,
        other_language=switch_to,
        language_names=NAMES,
        lang_url=lang_url,
        script_words=script_words,
    )
    env.filters["rupiah"] = rupiah
    env.filters["wib"] = wib
