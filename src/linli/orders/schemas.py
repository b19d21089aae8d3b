from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from linli.orders.rules import SETTINGS
from linli.schema import Id, Input, Output, setting_field


class ItemIn(Input):
    sku_id: Id
    qty: int = Field(ge=-1_000_000, le=1_000_000, description="units (1 to the per-line maximum)")


class AddressIn(Input):
    name: str = Field(max_length=30)
    phone: str = Field(max_length=32)
    text: str = Field(max_length=200, description="street, building, room")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class OrderCreate(Input):
    merchant_id: Id
    items: list[ItemIn] = Field(min_length=1, max_length=50)
    campaign_id: Id | None = None
    team_id: Id | None = None
    invite_code: str | None = Field(default=None, max_length=32)
    coupon_id: Id | None = None
    points: int = Field(default=0, ge=0, le=100_000_000)
    stored_value: int = Field(default=0, ge=0, le=100_000_000, description="fen paid from the member's stored value (principal first, then bonus)")
    pickup_point_id: Id | None = None
    address: AddressIn | None = None



class LineOut(Output):
    id: int
    sku_id: int
    product_id: int
    product_name: str
    sku_name: str
    qty: int
    base_price: int
    unit_price: int
    amount: int
    coupon: int
    points_fen: int
    paid: int
    refunded: int


class TimelineEntry(Output):
    action: str
    from_status: str | None
    to_status: str | None
    actor_kind: str
    detail: dict[str, Any] | None
    at: datetime


class RefundLineOut(Output):
    line_id: int
    amount: int


class RefundCaseOut(Output):
    id: int
    order_id: int
    status: str
    amount: int
    reason: str
    photos: list[str]
    auto_approved: bool
    decision_note: str | None
    created_at: datetime
    decided_at: datetime | None
    lines: list[RefundLineOut] = []


class QueuedOut(Output):
    """An order accepted into a flash-sale queue: poll ``GET /orders/tickets/{ticket}``."""

    ticket: str
    status: str = Field(description="queued | created | refused")
    order_id: int | None = Field(default=None, description="Once created")
    code: str | None = Field(default=None, description="Why it was refused (a problem code)")
    detail: str | None = None


class OrderOut(Output):
    id: int
    merchant_id: int
    member_id: int
    status: str
    subtotal: int
    coupon: int
    points_fen: int
    stored_value: int
    total_paid: int
    payable: int
    refunded: int
    community_id: int | None
    pickup_point_id: int | None
    address: dict[str, Any] | None
    pickup_code: str | None = None
    campaign_id: int | None
    team_id: int | None
    invite_code: str | None
    delivery_note: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    handed_over_at: datetime | None
    received_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    payment_id: int | None = None
    lines: list[LineOut] = []
    timeline: list[TimelineEntry] = []
    refund_cases: list[RefundCaseOut] = []


class PayIn(Input):
    method: Literal["wechat_jsapi", "wechat_h5", "alipay_wap"] | None = Field(
        default=None, description="how to pay at a real provider; none: the sandbox (outside production)")


class PayOut(Output):
    order_id: int
    payment_id: int | None
    amount: int
    status: str
    method: str | None = None
    client: dict[str, str] | None = Field(
        default=None, description="JSAPI: appId, timeStamp, nonceStr, package, signType, paySign for wx.requestPayment; H5: h5_url; Alipay: wap_url")


class CodeIn(Input):
    code: str = Field(max_length=64, description="6-digit code, or the scanned QR text")


class RefundLineIn(Input):
    line_id: Id
    amount: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="fen")


class RefundCreate(Input):
    lines: list[RefundLineIn] = Field(min_length=1, max_length=50)
    reason: str = Field(max_length=200)
    photos: list[str] = Field(default_factory=list, max_length=9)


class RejectIn(Input):
    reason: str = Field(max_length=200)


class ApproveIn(Input):
    note: str | None = Field(default=None, max_length=200)


class DeliveryIn(Input):
    action: str = Field(pattern="^(dispatched|update|delivered)$")
    note: str | None = Field(default=None, max_length=200)


class ArrivedOut(Output):
    pickup_point_id: int
    orders: list[int]


class UploadOut(Output):
    path: str
    url: str


# Defaults and bounds from ``rules.SETTINGS`` (a docstring would change the OpenAPI schema).
class OrderSettingsIO(Input):
    unpaid_minutes: int = setting_field(SETTINGS["unpaid_minutes"])
    auto_confirm_days: int = setting_field(SETTINGS["auto_confirm_days"])
    after_sales_days: int = setting_field(SETTINGS["after_sales_days"])
    quick_refund_max: int = setting_field(SETTINGS["quick_refund_max"])
    quick_refund_hours: int = setting_field(SETTINGS["quick_refund_hours"])
    delivery_radius_m: int = setting_field(SETTINGS["delivery_radius_m"])
    max_qty_per_line: int = setting_field(SETTINGS["max_qty_per_line"])
