"""Per-merchant order settings (unpaid limit, auto-confirm, after-sales window, 坏果包赔
threshold, delivery radius). Their defaults and bounds are ``orders.rules.SETTINGS``,
re-exported here for other domains' forms (the commission rules editor's days)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.db import put_settings
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders.models import OrderSettings
from linli.orders.rules import SETTINGS
from linli.orders.service.common import settings_for

__all__ = ["SETTINGS", "get", "put"]



def get(s: Session, who: Principal, merchant_id: int) -> OrderSettings:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return settings_for(s, merchant_id)


def put(s: Session, who: Principal, merchant_id: int, values: dict[str, int]) -> OrderSettings:
    """Change some of the settings; a value outside its bounds (or a name that is not a
    setting) is refused with ``order.settings_invalid`` and nothing is written."""
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    return put_settings(s, SETTINGS, OrderSettings, merchant_id, values, lambda: settings_for(s, merchant_id))
