"""Withdrawals: minimum, fee, three a day, automatic approval up to a threshold, staff
review above it, payout exactly once through the rail chosen when it was asked for
(``payout_rails``: the merchant's WeChat Pay or Alipay account, or the sandbox) —
``paying`` committed first, a transfer number per withdrawal, a reconcile job for the ones
a crash left behind; a failed payout returns the money."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from linli import events, ledger
from linli.commission import accounts, holds, payout, payout_rails
from linli.commission.accounts import FEES, PAID_OUT, PAYOUT_CLEARING, SHARER_AVAILABLE
from linli.commission.events import WithdrawalApproved
from linli.commission.models import CommissionRecord, Withdrawal
from linli.commission.service import current
from linli.db import Database, after_commit
from linli.errors import Conflict, Forbidden, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.ledger import InsufficientFunds, Leg
from linli.money import apply_bp_floor
from linli.referral import service as referral
from linli.timeutil import local_day_start

log = logging.getLogger("linli.commission.withdrawals")


def _mark_records(s: Session, merchant_id: int, member_id: int, withdrawal_id: int, amount: int, now: datetime) -> None:
    """Move ``amount`` of available records to withdrawn, oldest first; a record only
    partly taken is split so every record stays whole in one state."""
    left = amount
    for rec in s.scalars(
        select(CommissionRecord).where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.member_id == member_id, CommissionRecord.state == "available").order_by(CommissionRecord.id)
    ).all():
        if left == 0:
            break
        if rec.amount <= left:
            rec.state, rec.withdrawal_id = "withdrawn", withdrawal_id
            left -= rec.amount
            continue
        rec.amount -= left
        s.add(CommissionRecord(
            merchant_id=rec.merchant_id, order_id=rec.order_id, line_id=rec.line_id, member_id=rec.member_id, level=rec.level, kind=rec.kind,
            source=f"w{withdrawal_id}:{rec.id}", rate_bp=rec.rate_bp, base=rec.base, amount=left, state="withdrawn", rule_version=rec.rule_version,
            created_at=rec.created_at, settled_at=rec.settled_at, withdrawal_id=withdrawal_id, batch_id=rec.batch_id, due_at=rec.due_at,
        ))
        left = 0
    s.flush()


def request(s: Session, member_id: int, merchant_id: int, amount: int, now: datetime) -> Withdrawal:
    identity.public_merchant(s, merchant_id)
    rs = current(s, merchant_id)
    status = referral.sharer_status(s, merchant_id, member_id)
    if status == "suspended":
        raise Forbidden("sharer.suspended", "Your sharer account is suspended; withdrawals wait until the case is closed.")
    if amount < rs.withdraw_min:
        raise Invalid("withdrawal.below_minimum", f"The minimum withdrawal is {rs.withdraw_min} fen.", minimum=rs.withdraw_min)
    today = s.scalar(select(func.count()).select_from(Withdrawal).where(Withdrawal.merchant_id == merchant_id, Withdrawal.member_id == member_id, Withdrawal.created_at >= local_day_start(now), Withdrawal.status != "rejected")) or 0
    if today >= rs.withdraw_daily_count:
        raise Conflict("withdrawal.daily_limit", f"At most {rs.withdraw_daily_count} withdrawals a day.")
    rail = payout_rails.choose(s, merchant_id, member_id)  # refused here, before any money moves, when nothing can pay it
    fee = apply_bp_floor(amount, rs.withdraw_fee_bp)
    w = Withdrawal(merchant_id=merchant_id, member_id=member_id, amount=amount, fee=fee, net=amount - fee, status="pending_review", created_at=now, rail=rail)
    s.add(w)
    s.flush()
    try:
        ledger.transfer(s, merchant_id, "withdraw", f"withdraw:{w.id}", [Leg(SHARER_AVAILABLE, member_id, -amount), Leg(PAYOUT_CLEARING, member_id, amount - fee), Leg(FEES, None, fee)], now, require_funds=True)
    except InsufficientFunds:
        bal = accounts.balance(s, merchant_id, member_id)
        raise Conflict("withdrawal.insufficient", "You cannot withdraw more than your available balance.", available=bal.available if bal else 0) from None
    _mark_records(s, merchant_id, member_id, w.id, amount, now)
    if amount <= rs.withdraw_auto_max:
        w.status, w.decided_at = "approved", now
        events.emit(s, WithdrawalApproved(withdrawal_id=w.id, merchant_id=merchant_id, member_id=member_id), merchant_id=merchant_id, at=now)
    s.flush()
    return w


def _staff_withdrawal(s: Session, who: Principal, merchant_id: int, wid: int) -> Withdrawal:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    w = s.get(Withdrawal, wid)
    if w is None or w.merchant_id != merchant_id:
        raise NotFound("withdrawal.not_found", "No such withdrawal.")
    return w


def approve(s: Session, who: Principal, merchant_id: int, wid: int, now: datetime) -> Withdrawal:
    """Approve a withdrawal waiting for review — not while its sharer is under a hold (a
    risk case, a suspension): the money was asked for before the hold, but staff decide the
    case first (or reject the withdrawal, which gives the money back to the hold)."""
    w = _staff_withdrawal(s, who, merchant_id, wid)
    if holds.is_held(s, merchant_id, w.member_id):
        raise Conflict("withdrawal.sharer_held", "This sharer is under review: decide the case before paying them, or reject the withdrawal.")
    if s.execute(update(Withdrawal).where(Withdrawal.id == w.id, Withdrawal.status == "pending_review").values(status="approved", decided_by=who.member_id, decided_at=now)).rowcount != 1:
        raise Conflict("withdrawal.already_decided", "This withdrawal was already decided.")
    events.emit(s, WithdrawalApproved(withdrawal_id=w.id, merchant_id=merchant_id, member_id=w.member_id), merchant_id=merchant_id, at=now)
    s.refresh(w)
    return w


def _give_back(s: Session, w: Withdrawal, status: str, note: str, now: datetime) -> None:
    """The money back to available — or to held, if a hold began since it was requested
    (asked with the balance row taken, so a hold running meanwhile comes before or after)."""
    accounts.lock_balances(s, {(w.merchant_id, w.member_id)})
    state, account = holds.landing(s, w.merchant_id, w.member_id)
    ledger.transfer(s, w.merchant_id, "withdraw_undo", f"withdraw_undo:{w.id}", [Leg(PAYOUT_CLEARING, w.member_id, -w.net), Leg(FEES, None, -w.fee), Leg(account, w.member_id, w.amount)], now)
    s.execute(update(CommissionRecord).where(CommissionRecord.withdrawal_id == w.id, CommissionRecord.state == "withdrawn").values(state=state, withdrawal_id=None))
    w.status, w.failure = status, note[:200]


def reject(s: Session, who: Principal, merchant_id: int, wid: int, reason: str, now: datetime) -> Withdrawal:
    w = _staff_withdrawal(s, who, merchant_id, wid)
    if s.execute(update(Withdrawal).where(Withdrawal.id == w.id, Withdrawal.status == "pending_review").values(decided_by=who.member_id, decided_at=now)).rowcount != 1:
        raise Conflict("withdrawal.already_decided", "This withdrawal was already decided.")
    _give_back(s, w, "rejected", reason or "rejected", now)
    s.flush()
    return w


# --- payout: ``paying`` is committed before the gateway is called -----------------------------
# The gateway is never called inside one of our transactions: the handler commits
# ``approved → paying``, then (after that commit) ``send`` calls the gateway with the
# withdrawal's transfer number and records its answer in a transaction of its own. If the
# process dies in between, the withdrawal stays ``paying`` and ``reconcile`` asks the
# gateway what became of it; a repeat ``pay`` with the same number never moves money twice.

# How long a payout may stay ``paying`` before the reconcile job asks the gateway about it
# (longer than a send normally takes, so it rarely races one in flight; a race is harmless).
PAYOUT_GRACE = timedelta(minutes=5)
RECONCILE_BATCH = 200


@contextlib.contextmanager
def _unit(bind: Engine | Connection) -> Iterator[Session]:
    """A transaction of its own on ``bind`` (commit on success, roll back on error)."""
    with Session(bind, expire_on_commit=False) as s, s.begin():
        yield s


def record(s: Session, wid: int, result: payout.PayoutResult, now: datetime) -> str:
    """Finish a ``paying`` withdrawal from the gateway's answer: paid → the payout transfer;
    failed → the money back to available; processing / not_found → left paying (a WeChat
    transfer waiting for the sharer to accept it keeps what their page needs for that).
    Idempotent by compare-and-set on the status (and by the ``payout:<id>`` key)."""
    if result.state == payout.PAID:
        if s.execute(update(Withdrawal).where(Withdrawal.id == wid, Withdrawal.status == "paying").values(status="paid", payout_ref=result.ref, paid_at=now, confirm=None)).rowcount != 1:
            return "skipped"
        w = s.get(Withdrawal, wid)
        ledger.transfer(s, w.merchant_id, "payout", f"payout:{w.id}", [Leg(PAYOUT_CLEARING, w.member_id, -w.net), Leg(PAID_OUT, w.member_id, w.net)], now)
        s.flush()
        return "paid"
    if result.state == payout.FAILED:
        if s.execute(update(Withdrawal).where(Withdrawal.id == wid, Withdrawal.status == "paying").values(status="failed", payout_ref=result.ref, confirm=None)).rowcount != 1:
            return "skipped"
        _give_back(s, s.get(Withdrawal, wid), "failed", result.error or "payout failed", now)
        s.flush()
        return "failed"
    if result.confirm:
        s.execute(update(Withdrawal).where(Withdrawal.id == wid, Withdrawal.status == "paying").values(confirm=result.confirm, payout_ref=result.ref))
    return "paying"


def _send(bind: Engine | Connection, wid: int, now: datetime, *, ask_first: bool = False) -> str:
    with _unit(bind) as s:
        w = s.get(Withdrawal, wid)
        if w is None or w.status != "paying":
            return "skipped"
        member_id, net = w.member_id, w.net
        gateway = payout_rails.gateway_for(s, bind, w)
    number = payout.transfer_no(wid)
    result = gateway.query(number) if ask_first else payout.PayoutResult(payout.NOT_FOUND)
    if result.state == payout.NOT_FOUND:
        result = gateway.pay(number, member_id, net)
    with _unit(bind) as s:
        return record(s, wid, result, now)


def send(bind: Engine | Connection, wid: int, now: datetime) -> str:
    """Send a ``paying`` withdrawal to the gateway of its rail (no transaction of ours open)
    and record the answer in a transaction of its own."""
    return _send(bind, wid, now)


def pay_out(s: Session, wid: int, now: datetime) -> str:
    """The payout of an approved withdrawal (event handler): ``approved → paying`` in the
    handler's transaction; once that commits, ``send``. Idempotent by state."""
    if s.execute(update(Withdrawal).where(Withdrawal.id == wid, Withdrawal.status == "approved").values(status="paying", paying_at=now)).rowcount != 1:
        return "skipped"
    bind = s.get_bind()
    after_commit(s, lambda: send(bind, wid, now))
    return "paying"


def reconcile(db: Database, as_of: datetime) -> int:
    """Finish payouts left ``paying`` longer than ``PAYOUT_GRACE`` (a crash between the
    gateway and our commit, or a transfer the provider was still processing): ask the
    gateway, pay again with the same transfer number if it never got there, record what
    it says. One that cannot be settled now (the gateway down) waits for the next run
    without holding the others back. Returns how many were finished."""
    cutoff = as_of - PAYOUT_GRACE
    finished, after = 0, 0
    while True:
        with db.transaction() as s:
            stale = list(s.scalars(
                select(Withdrawal.id).where(Withdrawal.status == "paying", (Withdrawal.paying_at < cutoff) | Withdrawal.paying_at.is_(None), Withdrawal.id > after)
                .order_by(Withdrawal.id).limit(RECONCILE_BATCH)
            ))
        if not stale:
            return finished
        for wid in stale:
            try:
                finished += _send(db.engine, wid, as_of, ask_first=True) in ("paid", "failed")
            except Exception:  # asked again at the next run
                log.exception("reconciling the payout of withdrawal %s failed", wid)
        after = stale[-1]


def mine(s: Session, member_id: int, merchant_id: int, limit: int = 50) -> list[Withdrawal]:
    return list(s.scalars(select(Withdrawal).where(Withdrawal.member_id == member_id, Withdrawal.merchant_id == merchant_id).order_by(Withdrawal.id.desc()).limit(limit)))


def desk(s: Session, who: Principal, merchant_id: int, status: str | None = None) -> list[Withdrawal]:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    stmt = select(Withdrawal).where(Withdrawal.merchant_id == merchant_id).order_by(Withdrawal.id.desc()).limit(200)
    if status:
        stmt = stmt.where(Withdrawal.status == status)
    return list(s.scalars(stmt))
