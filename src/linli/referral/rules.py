"""Pure referral rules: invite codes, binding decisions, attribution."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from linli.knobs import Knob, Spec


class BindMode(StrEnum):
    first_touch = "first_touch"
    protected = "protected"
    register_only = "register_only"


class SharerMode(StrEnum):
    everyone = "everyone"
    everyone_after_purchase = "everyone_after_purchase"
    spend_threshold = "spend_threshold"
    approval = "approval"
    invited = "invited"


class SharerPath(StrEnum):
    """Where a member stands on the way to becoming a sharer, and what one tap would do."""

    active = "active"  # a sharer already
    applied = "applied"  # waiting for the shop's review
    suspended = "suspended"  # suspended by staff or risk control: no tap helps
    instant = "instant"  # one tap makes them an active sharer
    approval = "approval"  # one tap files an application for review
    needs_purchase = "needs_purchase"  # a received order first
    needs_spend = "needs_spend"  # received orders up to the spend threshold first
    invite_only = "invite_only"  # the shop appoints its sharers


def sharer_path(mode: SharerMode, status: str, eligible: bool) -> SharerPath:
    """What ``apply`` would do for a member with sharer ``status`` (none, rejected, applied,
    active, suspended) under ``mode``; ``eligible``: their purchases meet the mode's condition."""
    if status in ("active", "applied", "suspended"):
        return SharerPath(status)
    if mode == SharerMode.approval:
        return SharerPath.approval
    if mode == SharerMode.invited:
        return SharerPath.invite_only
    if mode == SharerMode.everyone or eligible:
        return SharerPath.instant
    return SharerPath.needs_spend if mode == SharerMode.spend_threshold else SharerPath.needs_purchase


# Per-merchant referral settings: the one place their defaults and bounds are written (the
# table, the commission rule-set API and editor, and ``service.configure`` read them). The
# codes are the ones the rule-set editor has always shown.
SETTINGS = Spec("referral", (
    Knob("bind_mode", BindMode.first_touch.value, choices=tuple(m.value for m in BindMode), code="referral.mode_invalid"),
    Knob("protection_days", 30, 0, 365, unit="days", code="referral.protection_invalid"),
    Knob("sharer_mode", SharerMode.everyone_after_purchase.value, choices=tuple(m.value for m in SharerMode), code="referral.mode_invalid"),
    Knob("spend_threshold", 0, 0, 100_000_000, unit="fen", code="referral.threshold_invalid"),
    Knob("session_attribution", True),
))

# 8 characters without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V).
ALPHABET = "34679ACDEFGHJKMNPQRTWXY"
CODE_LENGTH = 8


def new_code() -> str:
    """Random, so codes cannot be guessed in sequence (23^8 ≈ 7.8e10)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str | None) -> str | None:
    if not raw:
        return None
    code = raw.strip().upper()
    return code if len(code) == CODE_LENGTH and all(c in ALPHABET for c in code) else None


@dataclass(frozen=True)
class ChainLink:
    """One member up an order's attribution chain, nearest first."""

    member_id: int
    active_sharer: bool


@dataclass(frozen=True)
class Existing:
    inviter_id: int
    bound_at: datetime


class Refusal(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def decide_binding(
    *, invitee_id: int, inviter_id: int, mode: BindMode, existing: Existing | None, ancestors_of_inviter: list[int], invitee_is_new: bool, now: datetime, protection_days: int
) -> bool:
    """Whether to (re)bind ``invitee`` to ``inviter``. True: write the binding; False: keep
    things as they are (an allowed no-op, e.g. the same inviter again). Raises ``Refusal``
    for what RULES.md refuses: self, cycle, a second binding in first_touch, and in
    register_only a member who is not new."""
    if invitee_id == inviter_id:
        raise Refusal("binding.self", "You cannot bind to yourself.")
    if invitee_id in ancestors_of_inviter:
        raise Refusal("binding.cycle", "This binding would make a cycle: the inviter is in your own team.")
    if existing is not None and existing.inviter_id == inviter_id:
        return False
    if mode == BindMode.register_only and not invitee_is_new:
        raise Refusal("binding.not_new", "Only new members are bound by an invitation here.")
    if existing is None:
        return True
    if mode == BindMode.protected and now >= existing.bound_at + timedelta(days=protection_days):
        return True
    raise Refusal("binding.exists", "You are already bound to another inviter.")
