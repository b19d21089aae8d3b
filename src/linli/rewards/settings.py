"""Per-merchant reward settings (points earned per 元, years until points expire). Their
defaults and bounds are ``rewards.rules.SETTINGS``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.db import put_settings
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.rewards.earning import settings_of
from linli.rewards.models import RewardSettings
from linli.rewards.rules import SETTINGS


def get(s: Session, who: Principal, merchant_id: int) -> RewardSettings:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return settings_of(s, merchant_id)


def put(s: Session, who: Principal, merchant_id: int, values: dict[str, int]) -> RewardSettings:
    """Change some of the settings; a value outside its bounds (or a name that is not a
    setting) is refused with ``rewards.settings_invalid`` and nothing is written. A change
    applies to points earned (rate) or made available (expiry) from now on."""
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    return put_settings(s, SETTINGS, RewardSettings, merchant_id, values, lambda: settings_of(s, merchant_id))
