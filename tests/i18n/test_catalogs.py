"""The catalogs: every message the code uses is translated in both languages (checked by
extracting the messages from the code, as `make messages` does, and comparing), placeholders
survive translation, and the formatters write rupiah and WIB the same way in both."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bayar import i18n
from bayar.i18n import extract

# Python and templates: %(name)s; the pages' scripts: {name}.
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract.extract()


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_message_used_is_translated(template: Catalog, language: str) -> None:
    assert len(template) > 300  # the extraction found the templates, Python and scripts
    assert extract.missing(language, template) == [], (
        f"untranslated in {language}: run `make messages` and fill in the .po"
    )


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    with extract.po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(str(ids[-1])))
        for text in strings:
            assert set(PLACEHOLDER.findall(str(text))) == wanted, (language, message.id, text)


def test_indonesian_differs_from_english_where_words_are_english() -> None:
    """A copied msgid is no translation: the Indonesian catalog says the shop's words in Indonesian."""
    with i18n.use("id"):
        assert i18n.gettext("Your cart is empty.") == "Keranjangmu kosong."
        assert i18n.gettext("Only %(n)s left", n=3) == "Tinggal 3"
        assert i18n.ngettext("%(num)s paid order", "%(num)s paid orders", 2) == "2 pesanan lunas"
    with i18n.use("en"):
        assert i18n.gettext("Your cart is empty.") == "Your cart is empty."
        assert i18n.ngettext("%(num)s paid order", "%(num)s paid orders", 2) == "2 paid orders"


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_rupiah_and_wib_in_both_languages(language: str) -> None:
    moment = datetime(2026, 12, 6, 8, 17, tzinfo=UTC)  # 15:17 in Jakarta
    with i18n.use(language):
        assert i18n.rupiah(7000) == "Rp 7.000"
        assert i18n.rupiah(1234567) == "Rp 1.234.567"
        assert i18n.rupiah(-500) == "-Rp 500"
        shown = i18n.wib(moment)
    assert shown == {"id": "6 Des 2026, 15.17 WIB", "en": "6 Dec 2026, 15:17 WIB"}[language]
    assert i18n.wib(datetime(2026, 12, 31, 17, 0)).endswith(", 00.00 WIB")  # naive is UTC


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en-US,en;q=0.9", "en"),
        ("id-ID,id;q=0.9,en;q=0.8", "id"),
        ("fr-FR,en;q=0.5,id;q=0.7", "id"),
        ("fr, de", None),
        ("en;q=0", None),
        ("*", None),
        ("", None),
        ("en;q=abc, id", "id"),
    ],
)
def test_accept_language(header: str, language: str | None) -> None:
    assert i18n.from_accept_language(header) == language


def test_scripts_get_only_their_own_messages() -> None:
    words = i18n.catalog_json("id", "no/such/script.js")
    assert words == {}
