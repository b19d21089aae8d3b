"""Catalog endpoints: staff manage products; members browse."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, UploadFile

from linli import media
from linli.catalog import service
from linli.catalog.schemas import (
    ProductCreate,
    ProductOut,
    ProductPatch,
    SkuOut,
    SkuPatch,
)
from linli.schema import NO_NUL, Id
from linli.web.deps import DB, Ctx, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["catalog"])


def product_out(p, skus) -> ProductOut:
    out = ProductOut.model_validate(p)
    out.image_url = f"/media/{p.image}" if p.image else None
    out.skus = [SkuOut.model_validate(k) for k in skus]
    return out


def _many(s, products) -> list[ProductOut]:
    skus = service.skus_of(s, [p.id for p in products])
    return [product_out(p, skus[p.id]) for p in products]


@router.post("/merchants/{mid}/products", status_code=201, response_model=ProductOut, responses=PROBLEMS)
def create_product(mid: Id, body: ProductCreate, s: DB, who: Who, now: Now) -> ProductOut:
    p, skus = service.create_product(
        s, who, mid, body.name, body.category, [service.SkuInput(k.name, k.price, k.stock) for k in body.skus], now, description=body.description, limit_per_member=body.limit_per_member
    )
    return product_out(p, skus)


@router.get("/merchants/{mid}/products", response_model=list[ProductOut], responses=PROBLEMS)
def list_products(mid: Id, s: DB, who: Who) -> list[ProductOut]:
    return _many(s, service.list_products(s, who, mid))


@router.patch("/merchants/{mid}/products/{pid}", response_model=ProductOut, responses=PROBLEMS)
def patch_product(mid: Id, pid: Id, body: ProductPatch, s: DB, who: Who) -> ProductOut:
    p = service.update_product(
        s, who, mid, pid, name=body.name, category=body.category, description=body.description, status=body.status,
        limit_per_member=body.limit_per_member, clear_limit="limit_per_member" in body.model_fields_set and body.limit_per_member is None,
    )
    return _many(s, [p])[0]


@router.patch("/merchants/{mid}/skus/{sku_id}", response_model=SkuOut, responses=PROBLEMS)
def patch_sku(mid: Id, sku_id: Id, body: SkuPatch, s: DB, who: Who) -> SkuOut:
    return SkuOut.model_validate(service.update_sku(s, who, mid, sku_id, price=body.price, add_stock=body.add_stock, name=body.name))


@router.post("/merchants/{mid}/products/{pid}/image", response_model=ProductOut, responses=PROBLEMS)
def upload_image(mid: Id, pid: Id, file: UploadFile, s: DB, who: Who, ctx: Ctx) -> ProductOut:
    data = file.file.read(media.MAX_IMAGE_BYTES + 1)
    p = service.save_image(s, who, mid, pid, data, ctx.settings.media_dir)
    return _many(s, [p])[0]


@router.get("/products", response_model=list[ProductOut], responses=PROBLEMS)
def browse(s: DB, merchant_id: Annotated[Id, Query()], category: str | None = Query(default=None, max_length=40, pattern=NO_NUL)) -> list[ProductOut]:
    return _many(s, service.public_products(s, merchant_id, category))


@router.get("/products/{pid}", response_model=ProductOut, responses=PROBLEMS)
def product(pid: Id, s: DB) -> ProductOut:
    return _many(s, [service.public_product(s, pid)])[0]
