"""Pure identity rules: phone numbers, roles and what each role may do, lockouts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Mainland China mobile numbers: 11 digits, 1[3-9]x. A +86 / 0086 prefix, spaces and dashes
# are accepted on input and removed. Nothing else is: phonenumbers.parse would also take
# letters (as a keypad), dots, full-width digits and extensions, so it is not used here.
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone(raw: str) -> str | None:
    """The 11-digit mobile number, or None if ``raw`` is not a mainland mobile number."""
    if not isinstance(raw, str):
        return None
    s = re.sub(r"[\s\-()]", "", raw)
    for prefix in ("+86", "0086", "86"):
        if s.startswith(prefix) and len(s) == len(prefix) + 11:
            s = s[len(prefix) :]
            break
    return s if _MOBILE_RE.match(s) else None


def mask_phone(phone: str) -> str:
    """138****8000 for leaderboards and staff lists."""
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


class Role(StrEnum):
    owner = "owner"
    operator = "operator"
    finance = "finance"
    service = "service"


class Permission(StrEnum):
    view = "view"  # read the console
    manage_staff = "manage_staff"
    manage_communities = "manage_communities"
    manage_catalog = "manage_catalog"
    manage_campaigns = "manage_campaigns"
    manage_rules = "manage_rules"  # commission rules, settlement
    finance = "finance"  # withdrawals, ledger
    after_sales = "after_sales"  # orders, refunds, delivery
    manage_credentials = "manage_credentials"  # WeChat apps and payment accounts (provider credentials): owners only


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.owner: frozenset(Permission),
    Role.operator: frozenset({Permission.view, Permission.manage_communities, Permission.manage_catalog, Permission.manage_campaigns, Permission.after_sales}),
    Role.finance: frozenset({Permission.view, Permission.finance}),
    Role.service: frozenset({Permission.view, Permission.after_sales}),
}


def role_allows(role: str, permission: Permission) -> bool:
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


# WeChat apps members log in through: 小程序 and 公众号 (H5 inside WeChat).
WECHAT_KINDS = ("mini_program", "official_account")
# An AppID is "wx" and 16 letters or digits (the documentation's own example,
# wxd678efh567hg6787, is not hex); an AppSecret is 32 letters or digits.
_APPID_RE = re.compile(r"^wx[0-9A-Za-z]{16}$")
_APPSECRET_RE = re.compile(r"^[0-9A-Za-z]{32}$")


def valid_appid(appid: str) -> bool:
    return bool(_APPID_RE.match(appid))


def valid_appsecret(secret: str) -> bool:
    return bool(_APPSECRET_RE.match(secret))


@dataclass(frozen=True)
class LockPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class GuardState:
    failures: int
    window_started_at: datetime
    locked_until: datetime | None


def is_locked(state: GuardState | None, now: datetime) -> bool:
    return bool(state and state.locked_until and state.locked_until > now)


def after_failure(state: GuardState | None, now: datetime, policy: LockPolicy) -> GuardState:
    """Count one wrong code; the count restarts when its window has passed."""
    if state is None or now - state.window_started_at > policy.window:
        state = GuardState(0, now, None)
    failures = state.failures + 1
    locked = now + policy.lock_for if failures >= policy.max_failures else state.locked_until
    return GuardState(failures, state.window_started_at, locked)
