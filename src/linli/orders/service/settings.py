"""Per-merchant order settings (unpaid limit, auto-confirm, after-sales window, 坏果包赔
threshold, delivery radius)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders.models import OrderSettings
from linli.orders.schemas import OrderSettingsIO
from linli.orders.service.common import settings_for

FIELDS = ("unpaid_minutes", "auto_confirm_days", "after_sales_days", "quick_refund_max", "quick_refund_hours", "delivery_radius_m", "max_qty_per_line")


def bounds(name: str) -> tuple[int, int]:
    """The allowed range of one setting, for forms that offer it (the orders console, and
    the commission rules editor's confirm and after-sales days). The bounds live in the
    wire schema today; one settings object per domain is issue 11's next step."""
    lo = hi = None
    for m in OrderSettingsIO.model_fields[name].metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


def get(s: Session, who: Principal, merchant_id: int) -> OrderSettings:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return settings_for(s, merchant_id)


def put(s: Session, who: Principal, merchant_id: int, values: dict[str, int]) -> OrderSettings:
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    row = s.get(OrderSettings, merchant_id)
    if row is None:
        row = settings_for(s, merchant_id)
        s.add(row)
    for name in FIELDS:
        if name in values:
            setattr(row, name, values[name])
    s.flush()
    return row
