"""`GET /api/products`."""

from __future__ import annotations

from fastapi import APIRouter

from bayar.api.deps import Context
from bayar.api.schemas import ProductOut
from bayar.storage import shop

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/products", response_model=list[ProductOut])
async def products(ctx: Context) -> list[ProductOut]:
    rows = await shop.products_on_sale(ctx.db)
    return [
        ProductOut(
            id=p.id,
            name=p.name,
            price=p.price,
            stock=p.stock,
            image_url=p.image_url,
            description=p.description,
            category=p.category,
        )
        for p in rows
    ]
