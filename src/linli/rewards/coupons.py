"""Coupon use cases: templates (the console), claims and grants (exactly ``total``, at most
``per_member`` each, under any concurrency), a member's coupons, and a coupon's life with
its order (lock at checkout, use at payment, release on an unpaid cancel, return on a full
refund inside its validity).

A claim is two guarded writes in one transaction: the coupon row under the unique
(template, member, seq) — a member's n-th coupon of a template can exist once, so two
concurrent claims by one member cannot both pass the limit — then a compare-and-set
``issued < total`` on the template. If the second refuses, the transaction (and the first)
rolls back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli.catalog import service as catalog
from linli.db import after_commit, insert_ignore
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.rewards import rules
from linli.rewards.models import Coupon, CouponTemplate

MAX_TOTAL = 10_000_000
MAX_PER_MEMBER = 100
SOURCES = ("claim", "staff", "new_member", "birthday", "reward", "automation")


class GrantContended(RuntimeError):
    """Grants to one member kept taking each other's seq: not a refusal — roll back and retry."""


@dataclass(frozen=True)
class TemplateIn:
    name: str
    kind: str
    total: int
    per_member: int = 1
    amount: int = 0
    threshold: int = 0
    percent_bp: int = 0
    cap: int = 0
    gift_sku_id: int | None = None
    categories: tuple[str, ...] = ()
    products: tuple[int, ...] = ()
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    valid_days: int | None = None
    claimable: bool = True


@dataclass(frozen=True)
class TemplateStats:
    template: CouponTemplate
    used: int
    expired: int
    unused: int


def terms_of(t: CouponTemplate) -> rules.CouponTerms:
    return rules.CouponTerms(rules.Kind(t.kind), t.amount, t.threshold, t.percent_bp, t.cap, t.gift_sku_id, frozenset(t.categories or ()), frozenset(t.products or ()))


def _check(s: Session, who: Principal, merchant_id: int, inp: TemplateIn) -> None:
    name = inp.name.strip()
    if not name or len(name) > 40:
        raise Invalid("coupon.name_invalid", "A coupon has a name of 1 to 40 characters.", field="name")
    if inp.kind not in rules.Kind.__members__:
        raise Invalid("coupon.kind_invalid", "A coupon is fixed, threshold, percent or gift.", field="kind")
    if not 1 <= inp.total <= MAX_TOTAL:
        raise Invalid("coupon.total_invalid", f"A template issues 1 to {MAX_TOTAL:,} coupons.", field="total")
    if not 1 <= inp.per_member <= min(MAX_PER_MEMBER, inp.total):
        raise Invalid("coupon.per_member_invalid", "Each member may hold 1 to 100 (and at most the total).", field="per_member")
    terms = rules.CouponTerms(rules.Kind(inp.kind), inp.amount, inp.threshold, inp.percent_bp, inp.cap, inp.gift_sku_id, frozenset(inp.categories), frozenset(inp.products))
    rules.check_terms(terms)
    if inp.valid_days is not None and not 1 <= inp.valid_days <= 3650:
        raise Invalid("coupon.valid_days_invalid", "Valid for 1 to 3650 days after claiming.", field="valid_days")
    if inp.valid_days is None and inp.valid_to is None:
        raise Invalid("coupon.validity_required", "Give an end date or a number of days after claiming.", field="valid_to")
    if inp.valid_from and inp.valid_to and inp.valid_to <= inp.valid_from:
        raise Invalid("coupon.validity_invalid", "The end must be after the start.", field="valid_to")
    skus = ([inp.gift_sku_id] if inp.gift_sku_id is not None else [])
    views = catalog.sku_views(s, skus)
    if any(views.get(sku) is None or views[sku].merchant_id != merchant_id for sku in skus):
        raise Invalid("coupon.gift_sku_unknown", "The gift is not a product of this shop.", field="gift_sku_id")
    if inp.products:
        known = {p.id for p in catalog.list_products(s, who, merchant_id)}
        if len(inp.products) > 200 or not set(inp.products) <= known:
            raise Invalid("coupon.scope_unknown", "A product in the scope is not this shop's.", field="products")
    if len(inp.categories) > 50 or any(not c.strip() or len(c) > 40 for c in inp.categories):
        raise Invalid("coupon.scope_invalid", "Up to 50 categories of 1 to 40 characters.", field="categories")


def create_template(s: Session, who: Principal, merchant_id: int, inp: TemplateIn, now: datetime) -> CouponTemplate:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    _check(s, who, merchant_id, inp)
    t = CouponTemplate(
        merchant_id=merchant_id, name=inp.name.strip(), kind=inp.kind, amount=inp.amount, threshold=inp.threshold, percent_bp=inp.percent_bp,
        cap=inp.cap, gift_sku_id=inp.gift_sku_id, categories=sorted(set(inp.categories)), products=sorted(set(inp.products)),
        valid_from=inp.valid_from, valid_to=inp.valid_to, valid_days=inp.valid_days, total=inp.total, per_member=inp.per_member,
        claimable=inp.claimable, issued=0, active=True, created_at=now,
    )
    s.add(t)
    s.flush()
    _forget_on_commit(s, t.id)  # a test database may reuse a template id
    return t


def set_active(s: Session, who: Principal, merchant_id: int, template_id: int, active: bool) -> CouponTemplate:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    t = _template(s, template_id, merchant_id)
    t.active = active
    s.flush()
    _forget_on_commit(s, t.id)
    return t


def _template(s: Session, template_id: int, merchant_id: int | None = None) -> CouponTemplate:
    t = s.get(CouponTemplate, template_id)
    if t is None or (merchant_id is not None and t.merchant_id != merchant_id):
        raise NotFound("coupon.template_not_found", "No such coupon.")
    return t


def template_stats(s: Session, who: Principal, merchant_id: int, now: datetime) -> list[TemplateStats]:
    """The console's list: each template with issued (its counter), used and expired."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    templates = list(s.scalars(select(CouponTemplate).where(CouponTemplate.merchant_id == merchant_id).order_by(CouponTemplate.id.desc())))
    counts: dict[tuple[int, str], int] = {}
    q = select(Coupon.template_id, Coupon.status, func.count()).where(Coupon.merchant_id == merchant_id).group_by(Coupon.template_id, Coupon.status)
    for tid, status, n in s.execute(q):
        counts[(tid, status)] = n
    overdue = dict(s.execute(select(Coupon.template_id, func.count()).where(Coupon.merchant_id == merchant_id, Coupon.status == "unused", Coupon.valid_to <= now).group_by(Coupon.template_id)).all())
    return [TemplateStats(t, counts.get((t.id, "used"), 0), counts.get((t.id, "expired"), 0) + overdue.get(t.id, 0), counts.get((t.id, "unused"), 0) - overdue.get(t.id, 0)) for t in templates]


def claimable(s: Session, merchant_id: int, now: datetime, product_id: int | None = None) -> list[CouponTemplate]:
    """Templates a member may claim now on the shop (or a product's) page."""
    q = select(CouponTemplate).where(CouponTemplate.merchant_id == merchant_id, CouponTemplate.active.is_(True), CouponTemplate.claimable.is_(True), CouponTemplate.issued < CouponTemplate.total)
    out = []
    for t in s.scalars(q.order_by(CouponTemplate.id)):
        if t.valid_to is not None and t.valid_to <= now:
            continue
        if product_id is not None and (t.products or t.categories) and product_id not in (t.products or []):
            continue
        out.append(t)
    return out


# --- sold out, as this process last saw it --------------------------------------------------------
# A rush of claims on a popular template is mostly refusals once it is gone. ``issued`` only
# grows, so a template seen sold out stays so until someone raises its ``total`` (or turns
# it off): remembered for SOLD_OUT_TTL_S, a claim is refused with the same answer without a
# transaction. A template written in this process is forgotten when that commits; another
# process's change is seen within the TTL.

SOLD_OUT_TTL_S = 1.0
_sold_out: dict[tuple[object, int], float] = {}  # (engine, template id) -> monotonic deadline


def known_sold_out(bind: object, template_id: int) -> bool:
    """Whether this process saw the template sold out less than SOLD_OUT_TTL_S ago."""
    until = _sold_out.get((bind, template_id))
    return until is not None and time.monotonic() < until


def sold_out() -> Conflict:
    return Conflict("coupon.sold_out", "All of these coupons have been claimed.")


def _seen_sold_out(s: Session, template_id: int) -> Conflict:
    _sold_out[(s.get_bind(), template_id)] = time.monotonic() + SOLD_OUT_TTL_S
    return sold_out()


def _forget_on_commit(s: Session, template_id: int) -> None:
    bind = s.get_bind()
    after_commit(s, lambda: _sold_out.pop((bind, template_id), None))


def _grant(s: Session, t: CouponTemplate, member_id: int, source: str, key: str | None, now: datetime, *, limit: bool = True) -> Coupon:
    """Issue one coupon of ``t`` to ``member_id``; ``key`` (default: the member's next seq)
    makes the grant happen once. ``limit=False``: a keyed system grant that recurs (the
    birthday coupon, once a year) is bounded by its key, not by the per-member limit. A seq
    taken by the member's concurrent grant moves this one to the next seq (a claim still
    stops at ``per_member``): concurrent grants each get their coupon."""
    if not t.active:
        raise Conflict("coupon.inactive", "This coupon is no longer issued.")
    if t.valid_to is not None and t.valid_to <= now:
        raise Conflict("coupon.ended", "This coupon has ended.")
    if key is not None:
        existing = s.scalars(select(Coupon).where(Coupon.grant_key == key)).first()
        if existing is not None:
            return existing
    if t.issued >= t.total:  # sold out as read: refuse without writing (the compare-and-set below decides a race)
        raise _seen_sold_out(s, t.id)
    held = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == t.id, Coupon.member_id == member_id)) or 0
    start, end = rules.valid_window(t.valid_from, t.valid_to, t.valid_days, now)
    coupon_id = None
    for seq in range(held + 1, held + 1 + MAX_PER_MEMBER):
        if limit and seq > t.per_member:
            raise Conflict("coupon.member_limit", f"You already hold the most of this coupon ({t.per_member}).", limit=t.per_member)
        values = {"merchant_id": t.merchant_id, "template_id": t.id, "member_id": member_id, "seq": seq, "grant_key": key or f"{source}:{t.id}:{member_id}:{seq}",
                  "source": source, "status": "unused", "valid_from": start, "valid_to": end, "created_at": now}
        coupon_id = s.execute(insert_ignore(s, Coupon, values, ["template_id", "member_id", "seq"]).returning(Coupon.id)).scalar()
        if coupon_id is not None:
            break
        # the member's concurrent grant took this seq (and committed: PostgreSQL waits for it):
        # the next one is this grant's, up to the limit
    if coupon_id is None:
        raise GrantContended(f"coupon {t.id}: {MAX_PER_MEMBER} concurrent grants to member {member_id}")
    took = s.execute(update(CouponTemplate).where(CouponTemplate.id == t.id, CouponTemplate.issued < CouponTemplate.total).values(issued=CouponTemplate.issued + 1)).rowcount
    if took != 1:
        raise _seen_sold_out(s, t.id)
    return s.get(Coupon, coupon_id)


def template_by_id(s: Session, template_id: int) -> CouponTemplate | None:
    return s.get(CouponTemplate, template_id)


def template_of(s: Session, c: Coupon) -> CouponTemplate:
    return s.get(CouponTemplate, c.template_id)


def claim(s: Session, member_id: int, template_id: int, now: datetime) -> Coupon:
    if known_sold_out(s.get_bind(), template_id):
        raise sold_out()
    t = _template(s, template_id)
    identity.public_merchant(s, t.merchant_id)
    if not t.claimable:
        raise NotFound("coupon.template_not_found", "No such coupon.")
    return _grant(s, t, member_id, "claim", None, now)


def issue(s: Session, who: Principal, merchant_id: int, template_id: int, member_ids: list[int], now: datetime) -> list[Coupon]:
    """Staff give one coupon to each member (all or nothing: a member at the limit or a
    template without enough left refuses the whole batch)."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    if not 1 <= len(member_ids) <= 1000 or len(set(member_ids)) != len(member_ids):
        raise Invalid("coupon.members_invalid", "Name 1 to 1000 different members.", field="member_ids")
    t = _template(s, template_id, merchant_id)
    for mid in member_ids:
        identity.get_member(s, mid)
    return [_grant(s, t, mid, "staff", None, now) for mid in sorted(member_ids)]


def grant_keyed(s: Session, template_id: int, member_id: int, source: str, key: str, now: datetime, *, member_limit: bool = True) -> Coupon:
    """A grant by the system, once per ``key``, in a savepoint. Raises ``Conflict`` with the
    reason when the template cannot give one (``coupon.template_not_found``, ``.inactive``,
    ``.ended``, ``.sold_out``, ``.member_limit``); a race with the member's other grants is
    never such a refusal (the next seq is taken), and ``GrantContended`` is for the caller to retry."""
    t = s.get(CouponTemplate, template_id)
    if t is None:
        raise Conflict("coupon.template_not_found", "No such coupon.")
    with s.begin_nested():
        return _grant(s, t, member_id, source, key, now, limit=member_limit)


def grant_once(s: Session, template_id: int, member_id: int, source: str, key: str, now: datetime, *, member_limit: bool = True) -> Coupon | None:
    """``grant_keyed``, None when the template cannot give one any more — the caller moves on."""
    try:
        return grant_keyed(s, template_id, member_id, source, key, now, member_limit=member_limit)
    except Conflict:
        return None


def my_coupons(s: Session, member_id: int, merchant_id: int, now: datetime, status: str | None = None) -> list[tuple[Coupon, CouponTemplate]]:
    """A member's coupons, an unused one past its end shown as expired."""
    q = select(Coupon, CouponTemplate).join(CouponTemplate, CouponTemplate.id == Coupon.template_id).where(Coupon.member_id == member_id, Coupon.merchant_id == merchant_id)
    rows = [(c, t) for c, t in s.execute(q.order_by(Coupon.valid_to.is_(None), Coupon.valid_to, Coupon.id))]
    if status is None:
        return rows
    return [(c, t) for c, t in rows if status_of(c, now) == status]


def status_of(c: Coupon, now: datetime) -> str:
    if c.status == "unused" and c.valid_to is not None and c.valid_to <= now:
        return "expired"
    return c.status


# --- with an order -------------------------------------------------------------------------------


def lock(s: Session, member_id: int, merchant_id: int, coupon_id: int, now: datetime) -> tuple[Coupon, CouponTemplate]:
    """``unused → locked`` by compare-and-set, the owner and validity checked in the same
    statement: one coupon, one order, whatever the concurrency."""
    c = s.get(Coupon, coupon_id)
    if c is None or c.member_id != member_id or c.merchant_id != merchant_id:
        raise NotFound("coupon.not_found", "No such coupon.")
    if c.valid_from > now or (c.valid_to is not None and c.valid_to <= now):
        raise Conflict("coupon.not_valid_now", "This coupon is not valid now.")
    took = s.execute(update(Coupon).where(Coupon.id == coupon_id, Coupon.member_id == member_id, Coupon.status == "unused").values(status="locked")).rowcount
    if took != 1:
        raise Conflict("coupon.in_use", "This coupon is already used or held by another order.")
    s.refresh(c)
    return c, s.get(CouponTemplate, c.template_id)


def attach(s: Session, coupon_id: int, order_id: int) -> None:
    s.execute(update(Coupon).where(Coupon.id == coupon_id, Coupon.status == "locked").values(order_id=order_id))


def release(s: Session, order_id: int) -> None:
    """The order was cancelled unpaid: its coupon is unused again."""
    s.execute(update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "locked").values(status="unused", order_id=None))


def use(s: Session, order_id: int, now: datetime) -> None:
    s.execute(update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "locked").values(status="used", used_at=now))


def give_back(s: Session, order_id: int, now: datetime) -> bool:
    """A full refund: the coupon is unused again if still inside its validity (RULES.md);
    a partial refund keeps it used."""
    stmt = update(Coupon).where(Coupon.order_id == order_id, Coupon.status == "used", (Coupon.valid_to.is_(None)) | (Coupon.valid_to > now))
    return s.execute(stmt.values(status="unused", order_id=None, used_at=None)).rowcount == 1
