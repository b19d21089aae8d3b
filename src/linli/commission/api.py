"""Commission endpoints: the merchant's rule set, a member's earnings, withdrawals and where
they are paid."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Header, Query, Response
from pydantic import Field

from linli import idempotency
from linli.commission import destinations, rules, service, withdrawals
from linli.orders.service import settings as order_settings
from linli.referral import service as referral
from linli.schema import FeeFreeInput, Id, Input, Output, setting_field
from linli.web.deps import DB, Ctx, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["commission"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)]


class Overrides(Input):
    category: dict[str, list[int]] = Field(default_factory=dict)
    product: dict[str, list[int]] = Field(default_factory=dict)
    campaign: dict[str, list[int]] = Field(default_factory=dict)


# How many levels, rates and tiers a request may carry at most (a size cap of the wire; the
# levels a platform allows are the service's to refuse, naming the number allowed).
MAX_ITEMS = 10
COMMISSION, REFERRAL, ORDERS = rules.SETTINGS, referral.SETTINGS, order_settings.SETTINGS


# The rule set and the referral and order settings it edits: defaults and bounds from each
# owner's settings spec (commission's ``rules.SETTINGS``, referral's, orders'). It says how
# members become sharers, so an entry fee in it is refused (compliance.entry_fee).
class RulesIn(FeeFreeInput):
    levels: int = Field(default=COMMISSION.default("levels"), ge=COMMISSION.bounds("levels")[0], le=MAX_ITEMS)
    rates_bp: list[int] = setting_field(COMMISSION["rates_bp"], max_length=MAX_ITEMS)
    leader_rate_bp: int = setting_field(COMMISSION["leader_rate_bp"])
    cap_bp: int = setting_field(COMMISSION["cap_bp"])
    bind_mode: str = setting_field(REFERRAL["bind_mode"])
    protection_days: int = setting_field(REFERRAL["protection_days"])
    sharer_mode: str = setting_field(REFERRAL["sharer_mode"])
    spend_threshold: int = setting_field(REFERRAL["spend_threshold"])
    self_purchase: bool = setting_field(COMMISSION["self_purchase"])
    settlement: str = setting_field(COMMISSION["settlement"])
    auto_confirm_days: int = setting_field(ORDERS["auto_confirm_days"])
    after_sales_days: int = setting_field(ORDERS["after_sales_days"])
    withdraw_min: int = setting_field(COMMISSION["withdraw_min"])
    withdraw_fee_bp: int = setting_field(COMMISSION["withdraw_fee_bp"])
    withdraw_auto_max: int = setting_field(COMMISSION["withdraw_auto_max"])
    overrides: Overrides = Field(default_factory=Overrides)
    bonus_tiers: list[list[int]] = Field(default_factory=list, max_length=MAX_ITEMS, description="[[min monthly GMV fen, bonus bp], ...]")


class RulesOut(Output):
    merchant_id: int
    version: int
    levels: int
    rates_bp: list[int]
    leader_rate_bp: int
    cap_bp: int
    bind_mode: str
    protection_days: int
    sharer_mode: str
    spend_threshold: int
    self_purchase: bool
    settlement: str
    withdraw_min: int
    withdraw_fee_bp: int
    withdraw_auto_max: int
    overrides: dict
    bonus_tiers: list[list[int]]
    created_at: datetime | None = None


class RecordOut(Output):
    id: int
    order_id: int | None  # None for a monthly bonus
    line_id: int | None
    level: int
    kind: str
    rate_bp: int
    amount: int
    state: str
    created_at: datetime


class EarningsOut(Output):
    merchant_id: int
    frozen: int
    available: int
    withdrawn: int
    records: list[RecordOut]
    held: int = Field(0, description="fen a hold keeps from withdrawal (a review or a suspension) until it ends")
    hold_reason: Literal["review", "suspended"] | None = Field(None, description="why money is held: review (some shared orders are being checked), suspended, or null")
    hold_note: str | None = Field(None, description="the reason in plain words (English; the pages show it in the member's language)")


HOLD_NOTES = {
    "review": "Under review: some orders you shared are being checked; this commission cannot be withdrawn until the check ends (usually within 7 days)",
    "suspended": "Your sharer account at this shop is suspended: you earn no new commission and cannot withdraw until the shop closes the case.",
}


def _out(s, v) -> RulesOut:
    r = referral.settings_for(s, v.merchant_id)
    return RulesOut(
        merchant_id=v.merchant_id, version=v.version, levels=v.levels, rates_bp=list(v.rates_bp), leader_rate_bp=v.leader_rate_bp, cap_bp=v.cap_bp,
        bind_mode=r.bind_mode, protection_days=r.protection_days, sharer_mode=r.sharer_mode, spend_threshold=r.spend_threshold, self_purchase=v.self_purchase,
        settlement=v.settlement, withdraw_min=v.withdraw_min, withdraw_fee_bp=v.withdraw_fee_bp, withdraw_auto_max=v.withdraw_auto_max, overrides=v.overrides or {}, bonus_tiers=v.bonus_tiers or [], created_at=v.created_at,
    )


@router.put("/merchants/{mid}/commission-rules", response_model=RulesOut, responses=PROBLEMS)
def put_rules(mid: Id, body: RulesIn, s: DB, who: Who, ctx: Ctx, now: Now) -> RulesOut:
    """A new version of the rule set. ``auto_confirm_days`` and ``after_sales_days`` are the
    order settings of the same names (one source of truth, shared with the order desk)."""
    inp = service.RuleSetInput(
        levels=body.levels, rates_bp=body.rates_bp, leader_rate_bp=body.leader_rate_bp, cap_bp=body.cap_bp, self_purchase=body.self_purchase,
        settlement=body.settlement, withdraw_min=body.withdraw_min, withdraw_fee_bp=body.withdraw_fee_bp, withdraw_auto_max=body.withdraw_auto_max,
        overrides=body.overrides.model_dump(), bonus_tiers=body.bonus_tiers, bind_mode=body.bind_mode, protection_days=body.protection_days, sharer_mode=body.sharer_mode, spend_threshold=body.spend_threshold,
    )
    v = service.put_rules(s, who, mid, inp, ctx.settings.max_levels, now)
    order_settings.put(s, who, mid, {"auto_confirm_days": body.auto_confirm_days, "after_sales_days": body.after_sales_days})
    return _out(s, v)


@router.get("/merchants/{mid}/commission-rules", response_model=RulesOut, responses=PROBLEMS)
def get_rules(mid: Id, s: DB, who: Who) -> RulesOut:
    return _out(s, service.get_rules(s, who, mid))


@router.get("/me/earnings", response_model=EarningsOut, responses=PROBLEMS)
def my_earnings(s: DB, who: Who, merchant_id: Annotated[Id, Query()]) -> EarningsOut:
    e = service.earnings(s, who.member_id, merchant_id)
    return EarningsOut(
        merchant_id=merchant_id, frozen=e.frozen, available=e.available, withdrawn=e.withdrawn, records=[RecordOut.model_validate(r) for r in e.records],
        held=e.held, hold_reason=e.hold, hold_note=HOLD_NOTES.get(e.hold or ""),
    )


class WithdrawIn(Input):
    merchant_id: Id
    amount: int = Field(ge=-1_000_000_000, le=1_000_000_000, description="fen")


class WithdrawalOut(Output):
    id: int
    merchant_id: int
    member_id: int
    amount: int
    fee: int
    net: int
    status: str
    failure: str | None
    created_at: datetime
    paid_at: datetime | None
    rail: str | None = Field(None, description="who pays it: sandbox | wechatpay | alipay")
    confirm: dict[str, str] | None = Field(None, description="a WeChat transfer waiting for the sharer: wx.requestMerchantTransfer's mchId, appId, package")


class RejectWithdrawalIn(Input):
    reason: str = Field(max_length=200)


@router.post("/me/withdrawals", status_code=201, response_model=WithdrawalOut, responses=PROBLEMS)
def withdraw(body: WithdrawIn, response: Response, s: DB, who: Who, now: Now, key: IdemKey = None):
    claim = idempotency.claim(s, f"member:{who.member_id}", "withdrawals.create", key, body.model_dump(mode="json"), now)
    if claim.replay is not None:
        response.status_code = claim.replay_status or 201
        return claim.replay
    out = WithdrawalOut.model_validate(withdrawals.request(s, who.member_id, body.merchant_id, body.amount, now))
    claim.store(s, out.model_dump(mode="json"), 201)
    return out


@router.get("/me/withdrawals", response_model=list[WithdrawalOut], responses=PROBLEMS)
def my_withdrawals(s: DB, who: Who, merchant_id: Annotated[Id, Query()]) -> list[WithdrawalOut]:
    return [WithdrawalOut.model_validate(w) for w in withdrawals.mine(s, who.member_id, merchant_id)]


@router.get("/merchants/{mid}/withdrawals", response_model=list[WithdrawalOut], responses=PROBLEMS)
def withdrawal_desk(mid: Id, s: DB, who: Who, status: str | None = Query(default=None, pattern="^(pending_review|approved|paying|paid|failed|rejected)$")) -> list[WithdrawalOut]:
    return [WithdrawalOut.model_validate(w) for w in withdrawals.desk(s, who, mid, status)]


@router.post("/merchants/{mid}/withdrawals/{wid}/approve", response_model=WithdrawalOut, responses=PROBLEMS)
def approve_withdrawal(mid: Id, wid: Id, s: DB, who: Who, now: Now) -> WithdrawalOut:
    return WithdrawalOut.model_validate(withdrawals.approve(s, who, mid, wid, now))


@router.post("/merchants/{mid}/withdrawals/{wid}/reject", response_model=WithdrawalOut, responses=PROBLEMS)
def reject_withdrawal(mid: Id, wid: Id, body: RejectWithdrawalIn, s: DB, who: Who, now: Now) -> WithdrawalOut:
    return WithdrawalOut.model_validate(withdrawals.reject(s, who, mid, wid, body.reason, now))


class DestinationIn(Input):
    prefer: Literal["wechat", "alipay"]
    alipay_account: str = Field("", max_length=200, description="the phone number or e-mail the sharer signs in to Alipay with; empty keeps the stored one")
    alipay_name: str = Field("", max_length=60, description="the real name of the Alipay account's holder (Alipay checks it)")


class DestinationOut(Output):
    prefer: str
    alipay_account: str | None = Field(None, description="masked")
    alipay_name: str | None = Field(None, description="masked")


def _destination_out(d) -> DestinationOut:
    if d is None:
        return DestinationOut(prefer=destinations.WECHAT)
    return DestinationOut(prefer=d.prefer, alipay_account=d.alipay_mask or None, alipay_name=d.name_mask or None)


@router.get("/me/payout-destination", response_model=DestinationOut, responses=PROBLEMS)
def my_destination(s: DB, who: Who) -> DestinationOut:
    return _destination_out(destinations.of(s, who.member_id))


@router.put("/me/payout-destination", response_model=DestinationOut, responses=PROBLEMS)
def set_destination(body: DestinationIn, s: DB, who: Who, now: Now) -> DestinationOut:
    """Where withdrawals go: WeChat (the balance of the WeChat the sharer logged in with in
    the shop's app) or Alipay (used when the shop has an Alipay account)."""
    return _destination_out(destinations.save(s, who.member_id, body.prefer, body.alipay_account, body.alipay_name, now))
