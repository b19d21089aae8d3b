"""Rewards endpoints (API.md "Rewards"): coupon templates and their counts (console), claiming
and issuing coupons, a member's coupons, wallet and points statement, the reward settings,
stored-value plans, top-ups and the principal refund."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Header, Query, Request, Response
from pydantic import AwareDatetime, Field

from linli import idempotency
from linli.payments import service as payments
from linli.rewards import coupons, grants, levels, statement, stored_value, wallet
from linli.rewards import settings as reward_settings
from linli.rewards.rules import SETTINGS
from linli.schema import Id, Input, Output, setting_field
from linli.web.deps import DB, Now, Who, client_ip
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["rewards"])


class ScopeIn(Input):
    categories: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(default_factory=list, max_length=50)
    products: list[Id] = Field(default_factory=list, max_length=200)


class TemplateIn(Input):
    name: str = Field(min_length=1, max_length=40)
    kind: str = Field(pattern="^(fixed|threshold|percent|gift)$")
    amount: int | None = Field(default=None, ge=0, le=100_000_000, description="fen off (fixed, threshold)")
    threshold: int | None = Field(default=None, ge=0, le=100_000_000, description="fen: 满 threshold 减 amount")
    percent_bp: int | None = Field(default=None, ge=0, le=1_000_000, description="basis points off (percent)")
    cap: int | None = Field(default=None, ge=0, le=100_000_000, description="fen, the most a percent coupon takes off; 0 for none")
    gift_sku_id: Id | None = None
    scope: ScopeIn = Field(default_factory=ScopeIn)
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    valid_days: int | None = Field(default=None, ge=0, le=100_000, description="valid N days after claiming")
    total: int = Field(ge=0, le=1_000_000_000)
    per_member: int = Field(default=1, ge=0, le=1_000_000)
    claimable: bool = True


class TemplateOut(Output):
    id: int
    merchant_id: int
    name: str
    kind: str
    amount: int
    threshold: int
    percent_bp: int
    cap: int
    gift_sku_id: int | None
    categories: list[str]
    products: list[int]
    valid_from: datetime | None
    valid_to: datetime | None
    valid_days: int | None
    total: int
    per_member: int
    claimable: bool
    active: bool
    issued: int
    used: int = 0
    expired: int = 0


class CouponOut(Output):
    id: int
    template_id: int
    name: str
    kind: str
    amount: int
    threshold: int
    percent_bp: int
    cap: int
    status: str
    valid_from: datetime
    valid_to: datetime | None
    order_id: int | None


class IssueIn(Input):
    member_ids: list[Id] = Field(min_length=1, max_length=1000)


def _template_out(t, used: int = 0, expired: int = 0) -> TemplateOut:
    return TemplateOut.model_validate({**{c.name: getattr(t, c.name) for c in t.__table__.columns}, "used": used, "expired": expired})


def _coupon_out(c, t, now: datetime) -> CouponOut:
    return CouponOut(id=c.id, template_id=t.id, name=t.name, kind=t.kind, amount=t.amount, threshold=t.threshold, percent_bp=t.percent_bp, cap=t.cap,
                     status=coupons.status_of(c, now), valid_from=c.valid_from, valid_to=c.valid_to, order_id=c.order_id)


@router.post("/merchants/{mid}/coupon-templates", status_code=201, response_model=TemplateOut, responses=PROBLEMS)
def create_template(mid: Id, body: TemplateIn, s: DB, who: Who, now: Now) -> TemplateOut:
    inp = coupons.TemplateIn(
        name=body.name, kind=body.kind, total=body.total, per_member=body.per_member, amount=body.amount or 0, threshold=body.threshold or 0,
        percent_bp=body.percent_bp or 0, cap=body.cap or 0, gift_sku_id=body.gift_sku_id, categories=tuple(body.scope.categories), products=tuple(body.scope.products),
        valid_from=body.valid_from, valid_to=body.valid_to, valid_days=body.valid_days or None, claimable=body.claimable,
    )
    return _template_out(coupons.create_template(s, who, mid, inp, now))


@router.get("/merchants/{mid}/coupons", response_model=list[TemplateOut], responses=PROBLEMS)
def templates(mid: Id, s: DB, who: Who, now: Now) -> list[TemplateOut]:
    """Templates with issued / used / expired counts."""
    return [_template_out(st.template, st.used, st.expired) for st in coupons.template_stats(s, who, mid, now)]


@router.post("/merchants/{mid}/coupon-templates/{tid}/issue", status_code=201, response_model=list[CouponOut], responses=PROBLEMS)
def issue(mid: Id, tid: Id, body: IssueIn, s: DB, who: Who, now: Now) -> list[CouponOut]:
    issued = coupons.issue(s, who, mid, tid, body.member_ids, now)
    return [_coupon_out(c, coupons.template_of(s, c), now) for c in issued]


async def _not_known_sold_out(tid: Id, who: Who, request: Request) -> None:
    """Once the caller is known: a template this process saw sold out a moment ago is
    refused on the event loop, with the endpoint's answer, before a thread or a session."""
    if coupons.known_sold_out(request.app.state.ctx.db.engine, tid):
        raise coupons.sold_out()


@router.post("/coupons/{tid}/claim", status_code=201, response_model=CouponOut, responses=PROBLEMS, dependencies=[Depends(_not_known_sold_out)])
def claim(tid: Id, s: DB, who: Who, now: Now) -> CouponOut:
    c = coupons.claim(s, who.member_id, tid, now)
    return _coupon_out(c, coupons.template_of(s, c), now)


@router.get("/me/coupons", response_model=list[CouponOut], responses=PROBLEMS)
def my_coupons(s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()], status: str | None = Query(default=None, pattern="^(unused|locked|used|expired)$")) -> list[CouponOut]:
    return [_coupon_out(c, t, now) for c, t in coupons.my_coupons(s, who.member_id, merchant_id, now, status)]


class ExpiringOut(Output):
    points: int
    expires_at: datetime


class PointsOut(Output):
    available: int
    pending: int
    expiring: list[ExpiringOut]


class StoredValueOut(Output):
    principal: int
    bonus: int
    held_back: int = Field(description="principal a refund held back because bonus it had to forfeit was spent; paid out when that bonus comes back")
    paying_out: int = Field(description="principal being paid back to the member's top-up payments, not paid by the gateway yet")


class LevelOut(Output):
    name: str | None
    growth: int
    next_at: int | None


class WalletOut(Output):
    merchant_id: int
    points: PointsOut
    stored_value: StoredValueOut
    level: LevelOut
    coupons: dict[str, int]


@router.get("/me/wallet", response_model=WalletOut, responses=PROBLEMS)
def my_wallet(s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()]) -> WalletOut:
    w = wallet.of(s, who.member_id, merchant_id, now)
    return WalletOut(
        merchant_id=merchant_id,
        points=PointsOut(available=w.points_available, pending=w.points_pending, expiring=[ExpiringOut(points=n, expires_at=at) for n, at in w.expiring]),
        stored_value=StoredValueOut(principal=w.sv_principal, bonus=w.sv_bonus, held_back=w.sv_held_back, paying_out=w.sv_paying_out),
        level=LevelOut(name=w.level_name, growth=w.growth, next_at=w.next_at),
        coupons={"unused": w.coupons_unused},
    )


# --- stored value ---------------------------------------------------------------------------

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)]
MAX_PLANS = 20


class PlanIO(Input):
    pay: int = Field(ge=0, le=100_000_000, description="fen paid")
    bonus: int = Field(ge=0, le=100_000_000, description="fen of bonus stored value given with it (充100送10)")


class TopupIn(Input):
    merchant_id: Id
    pay: int = Field(ge=0, le=100_000_000, description="fen; a plan's amount gets its bonus")
    method: Literal["wechat_jsapi", "wechat_h5", "alipay_wap"] | None = Field(
        default=None, description="how to pay at a real provider; none: the sandbox (outside production)")


class TopupOut(Output):
    id: int
    merchant_id: int
    pay: int
    bonus: int
    status: str
    payment_id: int
    method: str | None = None
    client: dict[str, Any] | None = None  # what the client opens the provider's payment with (as POST /orders/{id}/pay)


class StoredValueRefundIn(Input):
    merchant_id: Id


class RefundedPaymentOut(Output):
    payment_id: int
    amount: int


class StoredValueRefundOut(Output):
    id: int
    merchant_id: int
    principal: int = Field(description="fen paid back to the top-up payments (``payments``; the gateway is asked right after)")
    bonus_forfeited: int
    held_back: int = Field(description="principal not paid out because bonus due to be forfeited was spent; paid out when that bonus comes back")
    payments: list[RefundedPaymentOut]
    created_at: datetime


@router.get("/merchants/{mid}/topup-plans", response_model=list[PlanIO], responses=PROBLEMS)
def topup_plans(mid: Id, s: DB, who: Who) -> list[PlanIO]:
    """The shop's top-up plans, for its members to choose from."""
    return [PlanIO(pay=p.pay, bonus=p.bonus) for p in stored_value.plans(s, mid)]


@router.put("/merchants/{mid}/topup-plans", response_model=list[PlanIO], responses=PROBLEMS)
def set_topup_plans(mid: Id, body: Annotated[list[PlanIO], Body(max_length=MAX_PLANS)], s: DB, who: Who) -> list[PlanIO]:
    """Replace the plans (staff with ``manage_rules``: they are money rules, like commission's)."""
    return [PlanIO(pay=p.pay, bonus=p.bonus) for p in stored_value.set_plans(s, who, mid, [(p.pay, p.bonus) for p in body])]


@router.post("/me/topups", status_code=201, response_model=TopupOut, responses=PROBLEMS)
def create_topup(body: TopupIn, s: DB, who: Who, now: Now, request: Request) -> TopupOut:
    """A top-up and its payment: pay it like an order's (``/m/pay/{payment_id}`` in the sandbox)."""
    how = payments.PayWith(body.method, client_ip=client_ip(request), return_url=f"/m/wallet/{body.merchant_id}") if body.method else None
    t, c = stored_value.create_topup(s, who.member_id, body.merchant_id, body.pay, now, how)
    return TopupOut(id=t.id, merchant_id=t.merchant_id, pay=t.pay, bonus=t.bonus, status=t.status, payment_id=c.payment.id, method=c.method, client=c.client)


@router.post("/me/stored-value/refund", status_code=201, response_model=StoredValueRefundOut, responses=PROBLEMS)
def refund_stored_value(body: StoredValueRefundIn, response: Response, s: DB, who: Who, now: Now, key: IdemKey = None):
    """Refund all the principal (the bonus is forfeited pro rata). Retry with the same
    ``Idempotency-Key`` to get the same answer without refunding twice."""
    claim = idempotency.claim(s, f"member:{who.member_id}", "stored_value.refund", key, body.model_dump(mode="json"), now)
    if claim.replay is not None:
        response.status_code = claim.replay_status or 201
        return claim.replay
    r = stored_value.refund_principal(s, who.member_id, body.merchant_id, now)
    out = StoredValueRefundOut(id=r.id, merchant_id=r.merchant_id, principal=r.principal, bonus_forfeited=r.bonus_forfeited, held_back=r.held_back,
                               payments=[RefundedPaymentOut(payment_id=pid, amount=n) for pid, n in r.payments], created_at=r.created_at)
    claim.store(s, out.model_dump(mode="json"), 201)
    return out


# --- member levels and the system coupons (new member, birthday) -------------------------------


class LevelDefIn(Input):
    name: str = Field(min_length=1, max_length=20)
    growth: int = Field(ge=0, le=10**12, description="growth value (fen received and not refunded over 365 days) from which the level applies")
    discount_bp: int = Field(default=0, ge=0, le=10_000, description="basis points off the lines no campaign priced")
    free_delivery: bool = False
    birthday_coupon_template_id: Id | None = None


class LevelDefOut(Output):
    rank: int
    name: str
    growth: int
    discount_bp: int
    free_delivery: bool
    birthday_coupon_template_id: int | None


class TemplateChoiceIn(Input):
    template_id: Id | None = Field(description="one of the merchant's coupon templates, or null for none")


class TemplateChoiceOut(Output):
    template_id: int | None


class PayoutOut(Output):
    id: int
    member_id: int
    topup_id: int
    payment_id: int
    amount: int
    reason: str = Field(description="requested (a principal refund) | over_cap | held_back (held-back principal whose bonus came back)")
    status: str = Field(description="pending (the gateway is asked, retried) | paid")
    created_at: datetime
    paid_at: datetime | None
    note: str | None = Field(description="how it was paid, when finance paid it by hand")


class PaidByHandIn(Input):
    note: str = Field(min_length=1, max_length=200, description="how it was paid (a bank transfer, cash at the counter)")


def _payout_out(p) -> PayoutOut:
    return PayoutOut(id=p.id, member_id=p.member_id, topup_id=p.topup_id, payment_id=p.payment_id, amount=p.amount, reason=p.reason, status=p.status,
                     created_at=p.created_at, paid_at=p.paid_at, note=p.note)


@router.get("/merchants/{mid}/stored-value-payouts", response_model=list[PayoutOut], responses=PROBLEMS)
def stored_value_payouts(mid: Id, s: DB, who: Who, status: Annotated[str | None, Query(pattern="^(pending|paid)$")] = "pending") -> list[PayoutOut]:
    """Principal paid back to members' top-up payments (finance): pending ones by default."""
    return [_payout_out(p) for p in stored_value.payouts(s, who, mid, status)]


@router.post("/merchants/{mid}/stored-value-payouts/{pid}/paid-by-hand", response_model=PayoutOut, responses=PROBLEMS)
def payout_paid_by_hand(mid: Id, pid: Id, body: PaidByHandIn, s: DB, who: Who, now: Now) -> PayoutOut:
    """A payout the gateway will not take (a payment past its refund window), paid outside it."""
    return _payout_out(stored_value.mark_paid_by_hand(s, who, mid, pid, body.note, now))


@router.get("/merchants/{mid}/levels", response_model=list[LevelDefOut], responses=PROBLEMS)
def get_levels(mid: Id, s: DB, who: Who) -> list[LevelDefOut]:
    return [LevelDefOut.model_validate(d) for d in levels.get_levels(s, who, mid)]


@router.put("/merchants/{mid}/levels", response_model=list[LevelDefOut], responses=PROBLEMS)
def put_levels(mid: Id, body: Annotated[list[LevelDefIn], Body(max_length=50)], s: DB, who: Who, now: Now) -> list[LevelDefOut]:
    """Replace the levels, lowest first; thresholds must be strictly increasing
    (``levels.thresholds_not_increasing``) and a birthday coupon one of this shop's."""
    inp = [levels.LevelIn(b.name, b.growth, b.discount_bp, b.free_delivery, b.birthday_coupon_template_id) for b in body]
    return [LevelDefOut.model_validate(d) for d in levels.set_levels(s, who, mid, inp, now)]


@router.get("/merchants/{mid}/new-member-coupon", response_model=TemplateChoiceOut, responses=PROBLEMS)
def get_new_member_coupon(mid: Id, s: DB, who: Who) -> TemplateChoiceOut:
    return TemplateChoiceOut(template_id=grants.coupon_settings(s, who, mid)[0])


@router.put("/merchants/{mid}/new-member-coupon", response_model=TemplateChoiceOut, responses=PROBLEMS)
def put_new_member_coupon(mid: Id, body: TemplateChoiceIn, s: DB, who: Who) -> TemplateChoiceOut:
    """The coupon a new member of this shop gets once (see rewards/grants.py for when)."""
    return TemplateChoiceOut(template_id=grants.set_new_member_coupon(s, who, mid, body.template_id).new_member_template_id)


@router.get("/merchants/{mid}/birthday-coupon", response_model=TemplateChoiceOut, responses=PROBLEMS)
def get_birthday_coupon(mid: Id, s: DB, who: Who) -> TemplateChoiceOut:
    return TemplateChoiceOut(template_id=grants.coupon_settings(s, who, mid)[1])


@router.put("/merchants/{mid}/birthday-coupon", response_model=TemplateChoiceOut, responses=PROBLEMS)
def put_birthday_coupon(mid: Id, body: TemplateChoiceIn, s: DB, who: Who) -> TemplateChoiceOut:
    """The shop's birthday coupon, for members whose level names none of its own."""
    return TemplateChoiceOut(template_id=grants.set_birthday_coupon(s, who, mid, body.template_id).birthday_template_id)


class MovementOut(Output):
    id: int
    at: datetime
    reason: str = Field(description="earned | available | redeemed | returned | reversed | expired | reward")
    order_id: int | None
    refund_case_id: int | None
    pending: int
    available: int


@router.get("/me/points", response_model=list[MovementOut], responses=PROBLEMS)
def my_points(s: DB, who: Who, merchant_id: Annotated[Id, Query()], limit: int = Query(default=50, ge=1, le=200), before: Id | None = Query(default=None)) -> list[MovementOut]:
    """The points statement, newest first: each movement of the pending and available points
    with its reason and the order (and refund) it came from. Page on with ``before`` = the
    last ``id`` seen."""
    return [MovementOut(**vars(m)) for m in statement.of(s, who.member_id, merchant_id, limit=limit, before=before)]


# Defaults and bounds from ``rules.SETTINGS`` (a docstring would change the OpenAPI schema).
class RewardSettingsIO(Input):
    points_per_yuan: int = setting_field(SETTINGS["points_per_yuan"])
    points_expiry_years: int = setting_field(SETTINGS["points_expiry_years"])


@router.get("/merchants/{mid}/reward-settings", response_model=RewardSettingsIO, responses=PROBLEMS)
def get_reward_settings(mid: Id, s: DB, who: Who) -> RewardSettingsIO:
    """The points rules (API.md names no path for them: this one follows
    ``/merchants/{mid}/order-settings``). Staff who can view the console may read them."""
    row = reward_settings.get(s, who, mid)
    return RewardSettingsIO(**{f: getattr(row, f) for f in SETTINGS.names})


@router.put("/merchants/{mid}/reward-settings", response_model=RewardSettingsIO, responses=PROBLEMS)
def put_reward_settings(mid: Id, body: RewardSettingsIO, s: DB, who: Who) -> RewardSettingsIO:
    """Set the points rules (the whole set, like ``PUT /order-settings``: a field left out
    takes its default); needs ``manage_rules``. Out of bounds: 422."""
    row = reward_settings.put(s, who, mid, body.model_dump())
    return RewardSettingsIO(**{f: getattr(row, f) for f in SETTINGS.names})
