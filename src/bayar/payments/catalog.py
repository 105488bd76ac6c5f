"""The owner's catalog: add, edit, hide and show, and archive products, with the rules every edge
(the admin pages, the admin API, `bayar product …`) shares. The SQL is storage.repositories'.

A hidden product (`active` false) is off sale until shown again; an archived one has left sale for
good: never active again, never listed for sale, but kept, because old orders and the reports name
it. Stock is "units free to sell": open orders have taken theirs out already (see `held`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bayar.i18n import N_
from bayar.payments.errors import InvalidRequest, NoSuchProduct, NotAllowed
from bayar.payments.money import display
from bayar.storage import repositories as repo
from bayar.storage.db import Database
from bayar.storage.models import Product

MAX_PRICE = 100_000_000
MAX_STOCK = 1_000_000
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_CATEGORY = 64
PRODUCT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """A product as the owner sees it, with the units open orders hold besides its free stock."""

    product: Product
    held: int = 0

    @property
    def on_hand(self) -> int:
        return self.product.stock + self.held


@dataclass(frozen=True)
class Changes:
    """What an edit changes; None leaves a field as it is ("" clears a description or category)."""

    name: str | None = None
    description: str | None = None
    price: int | None = None
    category: str | None = None
    stock: int | None = None  # units free to sell
    on_hand: int | None = None  # or: units on hand, of which open orders hold some
    active: bool | None = None


def slug(name: str) -> str:
    """A product id made of its name: "Es Teh Manis" is es-teh-manis."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:64].strip("-")


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME:
        raise InvalidRequest(N_("a product's name has 1 to %(most)s characters"), most=MAX_NAME)
    return name


def _price(value: int) -> int:
    if isinstance(value, bool) or value < 1 or value > MAX_PRICE:
        raise InvalidRequest(
            N_("the price must be between Rp 1 and %(most)s"), most=display(MAX_PRICE)
        )
    return value


def _stock(value: int) -> int:
    if isinstance(value, bool) or value < 0 or value > MAX_STOCK:
        raise InvalidRequest(
            N_("the stock must be between 0 and %(most)s"), most=f"{MAX_STOCK:,}".replace(",", ".")
        )
    return value


LONGER = {
    "category": N_("the category has at most %(most)s characters"),
    "description": N_("the description has at most %(most)s characters"),
}


def _text(value: str, limit: int, what: str) -> str | None:
    text = value.strip()
    if len(text) > limit:
        raise InvalidRequest(LONGER[what], most=limit)
    return text or None


def _category(value: str) -> str | None:
    return _text(" ".join(value.split()), MAX_CATEGORY, "category")


async def listing(db: Database, *, archived: bool = False) -> list[Entry]:
    """Every product the owner has (the archived ones too when asked)."""
    async with db.session() as session:
        rows = await repo.catalog(session, archived=archived)
        held = await repo.units_held(session)
    return [Entry(p, held.get(p.id, 0)) for p in rows]


async def entry(db: Database, product_id: str) -> Entry:
    async with db.session() as session:
        product = await repo.product(session, product_id)
        if product is None:
            raise NoSuchProduct(N_("no product '%(product)s'"), product=product_id)
        held = await repo.units_held(session, product_id)
    return Entry(product, held.get(product_id, 0))


async def add(
    db: Database,
    *,
    name: str,
    price: int,
    stock: int = 0,
    product_id: str | None = None,
    description: str = "",
    category: str = "",
    active: bool = True,
) -> Product:
    """A new product (its id made of its name unless given); on sale unless `active` is False."""
    clean = _name(name)
    pid = product_id.strip() if product_id else slug(clean)
    if not PRODUCT_ID.fullmatch(pid):
        raise InvalidRequest(
            "a product id has 1 to 64 lowercase letters, digits, - or _ "
            "(and starts with a letter or digit)"
        )
    product = Product(
        id=pid,
        name=clean,
        price=_price(price),
        stock=_stock(stock),
        image_url=None,
        active=active,
        archived=False,
        description=_text(description, MAX_DESCRIPTION, "description"),
        category=_category(category),
    )
    taken = NotAllowed(f"a product {pid!r} exists already (an archived one keeps its id)")
    try:
        async with db.session() as session, session.begin():
            if await repo.product(session, pid) is not None:
                raise taken
            session.add(product)
    except IntegrityError:  # added at the same moment by someone else
        raise taken from None
    return product


async def change(db: Database, product_id: str, changes: Changes) -> Entry:
    """Edit a product under its row's lock. Stock given as units on hand becomes on hand minus
    what open orders hold, so an edit never sells a reserved unit twice. An archived product can
    no longer be changed, nor shown again."""
    async with db.session() as session, session.begin():
        product = await repo.lock_product(session, product_id)
        if product is None:
            raise NoSuchProduct(N_("no product '%(product)s'"), product=product_id)
        if product.archived:
            raise NotAllowed(
                N_("%(name)s is archived: it cannot be changed or sold again"), name=product.name
            )
        if changes.name is not None:
            product.name = _name(changes.name)
        if changes.description is not None:
            product.description = _text(changes.description, MAX_DESCRIPTION, "description")
        if changes.category is not None:
            product.category = _category(changes.category)
        if changes.price is not None:
            product.price = _price(changes.price)
        held = (await repo.units_held(session, product_id)).get(product_id, 0)
        if changes.stock is not None:
            product.stock = _stock(changes.stock)
        elif changes.on_hand is not None:
            product.stock = max(0, _stock(changes.on_hand) - held)
        if changes.active is not None:
            product.active = changes.active
        return Entry(product, held)


async def archive(db: Database, product_id: str) -> Product:
    """Take a product off sale for good. Open orders keep their units (and may still be paid);
    old orders and the reports keep naming it. Archiving twice is archiving once."""
    async with db.session() as session, session.begin():
        product = await repo.lock_product(session, product_id)
        if product is None:
            raise NoSuchProduct(N_("no product '%(product)s'"), product=product_id)
        product.archived = True
        product.active = False
        return product


async def set_picture(db: Database, product_id: str, url: str) -> None:
    async with db.session() as session, session.begin():
        if not await repo.set_product_picture(session, product_id, url):
            raise NoSuchProduct(N_("no product '%(product)s'"), product=product_id)
