"""Keeps the catalogs in step with the code (`make messages`): extracts every message that
templates (`_()`, `{% trans %}`), Python (`_()`, `gettext()`, `N_()`) and the pages' scripts
(`t()`, `N_()`) use, adds the new ones to each `.po`, drops the ones no longer used, and fills the English
catalog's new entries with their msgid (the code's words are English). Indonesian entries stay
empty until a person translates them; `missing()` lists them, and a test fails while any is left.

Run: `python -m bayar.i18n.extract` (prints what is left to translate).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from bayar.i18n import DOMAIN, LANGUAGES, LOCALES

SOURCE = Path(__file__).resolve().parent.parent  # src/bayar
METHODS = [
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
    # The kiosk's modules call t() with keys of its word table; the table marks its English
    # messages with N_().
    ("kiosk/static/js/translations.js", "javascript"),
    ("kiosk/static/**.js", "ignore"),
    ("**/static/**.js", "javascript"),
]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "t": None}
SOURCE_LANGUAGE = "en"
SKIP = ("i18n",)  # this package's own gettext wrappers
# Fixed header fields, so that `make messages` changes a catalog only where its messages change.
HEADER = {
    "project": "bayar",
    "version": "",
    "copyright_holder": "the bayar authors",
    "msgid_bugs_address": "",
    "last_translator": "bayar",
    "language_team": "bayar",
}
EPOCH = datetime(2026, 12, 6, tzinfo=UTC)
PLURALS = {"id": (1, "0"), "en": (2, "(n != 1)")}


def extract() -> Catalog:
    """Every message the code uses, with where it is used."""
    template = Catalog(domain=DOMAIN, project="bayar")
    found = extract_from_dir(
        SOURCE,
        method_map=METHODS,
        options_map=OPTIONS,
        keywords=KEYWORDS,
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        if any((SOURCE / filename).is_relative_to(SOURCE / skip) for skip in SKIP):
            continue
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, project="bayar")
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


def update(template: Catalog) -> None:
    """Brings every `.po` in step with `template` (fuzzy matching off: a changed message is a new
    one, translated on purpose, never guessed)."""
    template.creation_date = EPOCH
    for language in LANGUAGES:
        catalog = read(language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.revision_date = EPOCH
        # The plural rule of the language (Babel reads it from the header it wrote).
        forms, expression = PLURALS[language]
        catalog._num_plurals = forms  # type: ignore[assignment]
        catalog._plural_expr = expression  # type: ignore[assignment]
        for name, value in HEADER.items():
            setattr(catalog, name, value)
        for message in catalog:
            if not message.id:
                continue
            if isinstance(message.id, tuple):  # one form per plural of the language
                forms = catalog.num_plurals
                strings = message.string if isinstance(message.string, tuple) else ()
                strings = tuple(strings[:forms]) + ("",) * (forms - len(strings[:forms]))
                if language == SOURCE_LANGUAGE and not all(strings):
                    strings = tuple(message.id[:forms])
                message.string = strings
            elif language == SOURCE_LANGUAGE and not message.string:
                message.string = message.id
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, catalog, width=100, include_lineno=False, sort_output=True)


def missing(language: str, template: Catalog | None = None) -> list[str]:
    """The messages the code uses that `language`'s catalog does not translate."""
    template = template if template is not None else extract()
    catalog = read(language)
    left = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        strings = entry.string if entry is not None else None
        texts = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(texts):
            left.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return left


def main() -> int:
    template = extract()
    update(template)
    status = 0
    for language in LANGUAGES:
        left = missing(language, template)
        print(f"{language}: {len(template) - len(left)} translated, {len(left)} left")
        for msgid in left:
            print(f"  {msgid!r}")
        status = status or int(bool(left))
    return status


if __name__ == "__main__":
    sys.exit(main())
