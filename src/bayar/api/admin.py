"""The owner's catalog as an API for scripts: `/api/admin/products` (bearer BAYAR_ADMIN_TOKEN).
The rules are bayar.payments.catalog's, the same the admin pages and `bayar product` follow."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from bayar.api.deps import Context, require_admin
from bayar.api.schemas import AdminProductIn, AdminProductOut, AdminProductPatch, Problem
from bayar.payments import catalog

router = APIRouter(
    prefix="/api/admin/products",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": Problem, "description": "no or wrong admin token"}},
)
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "no such product"}
}


def product_out(entry: catalog.Entry) -> AdminProductOut:
    p = entry.product
    return AdminProductOut(
        id=p.id,
        name=p.name,
        description=p.description,
        price=p.price,
        stock=p.stock,
        category=p.category,
        image_url=p.image_url,
        active=p.active,
        archived=p.archived,
        held=entry.held,
    )


@router.get("", response_model=list[AdminProductOut])
async def list_products(ctx: Context, archived: bool = False) -> list[AdminProductOut]:
    """Every product, on sale or hidden; the archived ones too with `?archived=true`."""
    return [product_out(e) for e in await catalog.listing(ctx.db, archived=archived)]


@router.post(
    "",
    response_model=AdminProductOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Problem, "description": "a product with this id exists already"}},
)
async def add_product(body: AdminProductIn, ctx: Context) -> AdminProductOut:
    """Add a product (on sale at once unless `active` is false)."""
    product = await catalog.add(
        ctx.db,
        product_id=body.id,
        name=body.name,
        description=body.description,
        price=body.price,
        stock=body.stock,
        category=body.category,
        active=body.active,
    )
    return product_out(catalog.Entry(product))


@router.patch(
    "/{product_id}",
    response_model=AdminProductOut,
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "the product is archived"},
    },
)
async def change_product(product_id: str, body: AdminProductPatch, ctx: Context) -> AdminProductOut:
    """Change a product's name, description, price, stock (units free to sell), category, or
    hide (`active` false) and show it."""
    changes = catalog.Changes(**body.model_dump(exclude_unset=True, exclude_none=True))
    return product_out(await catalog.change(ctx.db, product_id, changes))


@router.post("/{product_id}/archive", response_model=AdminProductOut, responses=NOT_FOUND)
async def archive_product(product_id: str, ctx: Context) -> AdminProductOut:
    """Take a product off sale for good; its old orders and the reports keep it. Idempotent."""
    await catalog.archive(ctx.db, product_id)
    return product_out(await catalog.entry(ctx.db, product_id))
