"""The language of the pages: the person's choice (the toggle, remembered in a cookie), then
Accept-Language, then BAYAR_DEFAULT_LANGUAGE (Indonesian); and no English words left on the
Indonesian shop (every English message of its template is looked for on the page)."""

from __future__ import annotations

import html as markup
import re
from typing import TYPE_CHECKING

import httpx
import pytest
from babel.messages.pofile import read_po
from starlette.requests import Request

from bayar.config import DEMO_XENDIT_SECRET_KEY
from bayar.i18n import extract
from bayar.i18n.middleware import choose

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from tests.storefront.conftest import Shop

LANG = re.compile(r'<html lang="([a-z]+)">')


def html_lang(answer: httpx.Response) -> str:
    found = LANG.search(answer.text)
    assert found is not None
    return found.group(1)


def test_indonesian_by_default_with_english_one_tap_away(shop: Shop) -> None:
    page = httpx.get(f"{shop.url}/", timeout=10)
    assert html_lang(page) == "id"
    assert "Keranjangmu kosong." in page.text
    toggle = re.search(r'<a class="lang-toggle" href="([^"]+)" hreflang="en"', page.text)
    assert toggle is not None
    assert ">English</a>" in page.text
    assert markup.unescape(toggle.group(1)) == "?lang=en"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/admin/login", "Admin dinonaktifkan"),  # the shop sets no admin password
        ("/sandbox/", "Simulator sandbox"),
        ("/sandbox/pay-code", "Bayar dengan kode"),
        ("/orders/BYR-NOPE", "Pesanan tidak ditemukan"),
    ],
)
def test_every_page_speaks_indonesian_first(shop: Shop, path: str, words: str) -> None:
    page = httpx.get(f"{shop.url}{path}", timeout=10)
    assert html_lang(page) == "id"
    assert words in page.text
    assert 'hreflang="en"' in page.text  # the toggle


def test_the_browser_language_comes_next(shop: Shop) -> None:
    page = httpx.get(f"{shop.url}/", headers={"Accept-Language": "en-GB,en;q=0.8"}, timeout=10)
    assert html_lang(page) == "en"
    assert "Your cart is empty." in page.text
    assert "Bahasa Indonesia</a>" in page.text
    assert "Accept-Language" in page.headers["vary"]


def test_the_choice_is_remembered_over_the_browser_language(shop: Shop) -> None:
    with httpx.Client(base_url=shop.url, timeout=10, headers={"Accept-Language": "id"}) as client:
        chosen = client.get("/orders/BYR-NOPE?lang=en")
        assert chosen.status_code == 404
        assert html_lang(chosen) == "en"
        assert "bayar_lang=en" in chosen.headers["set-cookie"]
        assert "SameSite=Lax" in chosen.headers["set-cookie"]
        later = client.get("/")
        assert html_lang(later) == "en"
        back = client.get("/?lang=id")
        assert html_lang(back) == "id"
        assert html_lang(client.get("/")) == "id"


def test_an_unknown_choice_changes_nothing(shop: Shop) -> None:
    page = httpx.get(f"{shop.url}/?lang=fr", timeout=10)
    assert html_lang(page) == "id"
    assert "set-cookie" not in page.headers


def request(query: str = "", headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "query_string": query.encode(), "headers": raw})


@pytest.mark.parametrize(
    ("query", "headers", "default", "expected"),
    [
        ("", {}, "id", ("id", False)),
        ("", {}, "en", ("en", False)),  # BAYAR_DEFAULT_LANGUAGE=en
        ("", {"Accept-Language": "id"}, "en", ("id", False)),
        ("", {"Cookie": "bayar_lang=en", "Accept-Language": "id"}, "id", ("en", False)),
        ("lang=id", {"Cookie": "bayar_lang=en"}, "en", ("id", True)),
        ("", {"Cookie": "bayar_lang=xx"}, "en", ("en", False)),
    ],
)
def test_choose(
    query: str, headers: dict[str, str], default: str, expected: tuple[str, bool]
) -> None:
    assert choose(request(query, headers), default) == expected


# Words English sentences cannot do without and Indonesian never uses: one of them on an
# Indonesian page is English that never went through the catalogs.
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "of",
        "is",
        "are",
        "was",
        "were",
        "with",
        "your",
        "this",
        "that",
        "these",
        "not",
        "yet",
        "has",
        "have",
        "been",
        "will",
        "from",
        "for",
        "into",
        "can",
        "cannot",
        "could",
        "should",
        "would",
        "there",
        "their",
        "it",
        "its",
    ]
)


def said_on(html: str) -> str:
    """What a page says to a person: its text, without tags, scripts' data, code and samples, and
    the gateways' own words quoted in it."""
    said = re.sub(r"<(script|pre|code)\b.*?</\1>", " ", html, flags=re.S)
    text = markup.unescape(re.sub(r"<[^>]+>", " ", said))
    return re.sub(r'"[^"]*"', " ", text)


def english_left(html: str, sources: tuple[str, ...]) -> tuple[int, list[str]]:
    """The English messages of the catalog used by files under `sources` (paths from src/bayar)
    found on an Indonesian page, and the English words found on it; with how many messages
    were looked for."""
    with extract.po_path("id").open("rb") as po:
        catalog = read_po(po, locale="id")
    page = said_on(html)
    checked, found = 0, []
    for message in catalog:
        files = {f for f, _line in message.locations}
        if not isinstance(message.id, str) or not any(f.startswith(sources) for f in files):
            continue
        if message.string == message.id or "%(" in message.id or "<" in message.id:
            continue
        checked += 1
        if re.search(rf"(?<!\w){re.escape(message.id)}(?!\w)", page):
            found.append(message.id)
    found += sorted({w for w in re.findall(r"[A-Za-z]+", page) if w.lower() in ENGLISH_WORDS})
    return checked, found


def test_no_english_left_on_the_indonesian_shop(shop: Shop) -> None:
    """Every English message the shop's templates use, looked for on the Indonesian page: none is
    there (brand names and words that read the same in both languages aside)."""
    html = httpx.get(f"{shop.url}/", timeout=10).text
    checked, found = english_left(
        html, ("storefront/templates/shop.html", "storefront/templates/base.html")
    )
    assert found == [], f"English left on the Indonesian shop: {found}"
    assert checked > 20


SANDBOX_PAGES = (
    "/sandbox/",
    "/sandbox/control",
    "/sandbox/qris",
    "/sandbox/pay-code",
    "/sandbox/subscriptions",
    "/sandbox/transactions/{transaction}",
    "/sandbox/transactions/nope",
    "/sandbox/transactions/xendit/{invoice}",
    "/sandbox/transactions/xendit/nope",
    "/sandbox/xendit/web/{invoice}",
    "/sandbox/xendit/web/{paid_invoice}",
    "/sandbox/xendit/web/nope",
)


@pytest.fixture(scope="module")
def sandbox_ids(shop: Shop) -> dict[str, str]:
    """A Midtrans transaction paid (its notifications delivered) and Xendit invoices, one paid."""
    created = shop.create(payment_type="bank_transfer", bank="bca")
    paid = httpx.post(f"{shop.control}/{created['order_id']}/pay", timeout=15)
    paid.raise_for_status()
    key = (DEMO_XENDIT_SECRET_KEY, "")
    invoices = [
        httpx.post(
            f"{shop.url}/sandbox/xendit/v2/invoices",
            json={"external_id": f"words-{n}", "amount": 9000, "description": "Es teh"},
            auth=key,
            timeout=15,
        ).json()["id"]
        for n in (1, 2)
    ]
    done = httpx.post(f"{shop.url}/sandbox/_control/xendit/{invoices[1]}/pay", timeout=15)
    done.raise_for_status()
    return {
        "transaction": paid.json()["transaction_id"],
        "invoice": invoices[0],
        "paid_invoice": invoices[1],
    }


@pytest.mark.parametrize("path", SANDBOX_PAGES)
def test_no_english_left_on_the_indonesian_sandbox(
    shop: Shop, sandbox_ids: dict[str, str], path: str
) -> None:
    page = httpx.get(f"{shop.url}{path.format(**sandbox_ids)}", timeout=10)
    assert page.status_code in (200, 404)
    assert html_lang(page) == "id"
    checked, found = english_left(page.text, ("sandbox/templates/", "sandbox/"))
    assert found == [], f"English left on the Indonesian {path}: {found}"
    assert checked > 100
