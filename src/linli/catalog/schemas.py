from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linli.schema import Input, Output


class SkuCreate(Input):
    name: str = Field(max_length=60, examples=["2斤装"])
    price: int = Field(ge=0, le=10_000_000, description="fen")
    stock: int = Field(ge=0, le=10_000_000)


class ProductCreate(Input):
    name: str = Field(max_length=80, examples=["黄金奶油草莓"])
    category: str = Field(max_length=40, examples=["水果"])
    description: str = Field(default="", max_length=2000)
    limit_per_member: int | None = Field(default=None, ge=1, le=999)
    skus: list[SkuCreate] = Field(min_length=1, max_length=50)


class ProductPatch(Input):
    name: str | None = Field(default=None, max_length=80)
    category: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=2000)
    status: str | None = Field(default=None, pattern="^(active|archived)$")
    limit_per_member: int | None = Field(default=None, ge=1, le=999)


class SkuPatch(Input):
    name: str | None = Field(default=None, max_length=60)
    price: int | None = Field(default=None, ge=0, le=10_000_000)
    add_stock: int | None = Field(default=None, ge=-10_000_000, le=10_000_000, description="units to add (negative removes)")


class SkuOut(Output):
    id: int
    product_id: int
    name: str
    price: int
    stock: int
    sold: int


class ProductOut(Output):
    id: int
    merchant_id: int
    name: str
    category: str
    description: str
    limit_per_member: int | None
    status: str
    image_url: str | None = None
    created_at: datetime
    skus: list[SkuOut] = []
