"""Daily bill reconciliation: each merchant account's trade bill of a day (China time) from
WeChat Pay or Alipay, compared with the payments and refunds Linli recorded at that
provider that day. Each difference is kept as one row (unique per day, subject, reference
and kind: running a day again adds nothing), open until finance resolves it with a note:

* ``missing`` — on one side only (``side``: ``provider`` has it and Linli does not, or
  ``linli`` has it and the bill does not);
* ``amount`` — on both, with different amounts;
* ``status`` — on both, one paid or refunded and the other not.

The bill is downloaded outside any transaction of ours; an outage (or a file that does not
verify) marks the day ``failed`` and it is tried again later, as is a day with money in
Linli whose bill the provider does not have yet (``no_bill``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli.db import Database, insert_ignore
from linli.errors import Conflict, DomainError, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.payments import accounts, service
from linli.payments.models import BillDay, BillDifference, Payment, PaymentAccount, PaymentRefund
from linli.payments.providers import alipay, wechatpay
from linli.timeutil import SHANGHAI

log = logging.getLogger("linli.payments.reconciliation")
PAYMENT, REFUND = "payment", "refund"
MISSING, AMOUNT, STATUS = "missing", "amount", "status"
DONE, FAILED, NO_BILL = "done", "failed", "no_bill"
SUCCEEDED = "succeeded"
READY_HOUR = 10  # yesterday's bills are ready by 10:00 China time (WeChat Pay: after 10:00; Alipay: 09:00)
DAYS_BACK = 3  # a day the provider could not give is tried again for this many days
RETRY_AFTER = timedelta(minutes=30)
_WECHAT_REFUND = {"SUCCESS": SUCCEEDED, "PROCESSING": "processing"}  # CLOSED, ABNORMAL: the money did not go back


@dataclass(frozen=True)
class Entry:
    """A payment or a refund as one side records it."""

    subject: str  # payment | refund
    reference: str  # our out_trade_no / refund number at the provider
    amount: int
    status: str  # succeeded | processing | failed | pending | closed


Entries = dict[tuple[str, str], Entry]


# --- the provider's side ------------------------------------------------------------------


def _wechat_entries(bill) -> Entries:
    out: Entries = {}
    for r in bill.rows:
        if r.out_refund_no:
            e = Entry(REFUND, r.out_refund_no, r.refund, _WECHAT_REFUND.get(r.refund_state, "failed"))
        else:
            e = Entry(PAYMENT, r.out_trade_no, r.total, SUCCEEDED)
        out[(e.subject, e.reference)] = e
    return out


def _alipay_entries(rows) -> Entries:
    out: Entries = {}
    for r in rows:
        e = Entry(REFUND, r.refund_no or "", r.amount, SUCCEEDED) if r.kind == "refund" else Entry(PAYMENT, r.out_trade_no, r.amount, SUCCEEDED)
        out[(e.subject, e.reference)] = e
    return out


def _client(s: Session, merchant_id: int, provider: str):
    return (accounts.wechatpay_client if provider == accounts.WECHATPAY else accounts.alipay_client)(s, merchant_id)


def _fetch(client, provider: str, day: date) -> Entries | None:
    """The provider's bill of the day as entries; None when it has none (yet). Calls the
    provider: run with no transaction of ours open."""
    if provider == accounts.WECHATPAY:
        try:
            return _wechat_entries(client.fetch_trade_bill(day))
        except wechatpay.ProviderRefused as exc:
            if exc.provider_code == "NO_STATEMENT_EXIST":
                return None
            raise
    rows = client.bill(day)
    return None if rows is None else _alipay_entries(rows)


# --- Linli's side ---------------------------------------------------------------------------


def _refund_number(provider: str, request_key: str) -> str:
    return wechatpay.refund_no(request_key) if provider == accounts.WECHATPAY else alipay.out_request_no(request_key)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), SHANGHAI)
    return start, start + timedelta(days=1)


def _linli_entries(s: Session, merchant_id: int, provider: str, day: date) -> Entries:
    start, end = _day_bounds(day)
    out: Entries = {}
    for p in s.scalars(select(Payment).where(Payment.merchant_id == merchant_id, Payment.gateway == provider,
                                             Payment.succeeded_at >= start, Payment.succeeded_at < end)):
        out[(PAYMENT, p.gateway_ref)] = Entry(PAYMENT, p.gateway_ref, p.amount, SUCCEEDED)
    for r in s.scalars(select(PaymentRefund).join(Payment, Payment.id == PaymentRefund.payment_id)
                       .where(Payment.merchant_id == merchant_id, Payment.gateway == provider, PaymentRefund.created_at >= start, PaymentRefund.created_at < end)):
        number = _refund_number(provider, r.request_key)
        out[(REFUND, number)] = Entry(REFUND, number, r.amount, r.status)
    return out


def _recorded(s: Session, merchant_id: int, provider: str, bill: Entries) -> Entries:
    """What Linli holds, whatever the day, of the references a bill names (a payment recorded
    just across midnight is the same payment, not a missing one)."""
    refs = [ref for (subject, ref) in bill if subject == PAYMENT]
    out: Entries = {}
    if refs:
        for p in s.scalars(select(Payment).where(Payment.merchant_id == merchant_id, Payment.gateway == provider, Payment.gateway_ref.in_(refs))):
            out[(PAYMENT, p.gateway_ref)] = Entry(PAYMENT, p.gateway_ref, p.amount, p.status)
    if any(subject == REFUND for subject, _ in bill):
        for r in s.scalars(select(PaymentRefund).join(Payment, Payment.id == PaymentRefund.payment_id)
                           .where(Payment.merchant_id == merchant_id, Payment.gateway == provider)):
            number = _refund_number(provider, r.request_key)
            if (REFUND, number) in bill:
                out[(REFUND, number)] = Entry(REFUND, number, r.amount, r.status)
    return out


# --- comparing (pure) -------------------------------------------------------------------------


def compare(bill: Entries, ours_that_day: Entries, ours_named: Entries) -> list[dict]:
    """The differences between a bill and Linli's entries: those of the day, and those the
    bill names whatever their day."""
    found: list[dict] = []
    for key, theirs in sorted(bill.items()):
        ours = ours_named.get(key) or ours_that_day.get(key)
        if ours is None:
            found.append({"subject": theirs.subject, "reference": theirs.reference, "kind": MISSING, "side": "provider", "provider_amount": theirs.amount, "provider_status": theirs.status})
            continue
        if ours.amount != theirs.amount:
            found.append({"subject": ours.subject, "reference": ours.reference, "kind": AMOUNT, "provider_amount": theirs.amount, "linli_amount": ours.amount})
        if ours.status != theirs.status:
            found.append({"subject": ours.subject, "reference": ours.reference, "kind": STATUS, "provider_status": theirs.status, "linli_status": ours.status})
    for key, ours in sorted(ours_that_day.items()):
        if key not in bill:
            found.append({"subject": ours.subject, "reference": ours.reference, "kind": MISSING, "side": "linli", "linli_amount": ours.amount, "linli_status": ours.status})
    return found


# --- one day of one account, and the daily job -----------------------------------------------


def _mark(s: Session, merchant_id: int, provider: str, day: date, now: datetime, status: str, rows: int = 0, error: str | None = None) -> None:
    key = {"merchant_id": merchant_id, "provider": provider, "bill_date": day}
    s.execute(insert_ignore(s, BillDay, {**key, "status": status, "rows": rows, "error": error, "attempts": 0, "checked_at": now}, list(key)))
    s.execute(update(BillDay).where(*(getattr(BillDay, k) == v for k, v in key.items()))
              .values(status=status, rows=rows, error=error, attempts=BillDay.attempts + 1, checked_at=now))


def reconcile_day(db: Database, merchant_id: int, provider: str, day: date, now: datetime) -> str:
    """Reconcile one account's day: done, failed (tried again later) or no_bill."""
    try:
        with db.transaction() as s:
            client = _client(s, merchant_id, provider)
        if client is None:  # the account was removed since the job started
            return FAILED
        bill = _fetch(client, provider, day)
    except DomainError as exc:
        log.info("the %s bill of merchant %s for %s: %s", provider, merchant_id, day, exc.code)
        with db.transaction() as s:
            _mark(s, merchant_id, provider, day, now, FAILED, error=exc.code)
        return FAILED
    with db.transaction() as s:
        ours = _linli_entries(s, merchant_id, provider, day)
        if bill is None:
            _mark(s, merchant_id, provider, day, now, NO_BILL if ours else DONE)
            return NO_BILL if ours else DONE
        for d in compare(bill, ours, _recorded(s, merchant_id, provider, bill)):
            values = {"merchant_id": merchant_id, "provider": provider, "bill_date": day, "found_at": now, **d}
            s.execute(insert_ignore(s, BillDifference, values, ["merchant_id", "provider", "bill_date", "subject", "reference", "kind"]))
        _mark(s, merchant_id, provider, day, now, DONE, rows=len(bill))
    return DONE


def due_days(as_of: datetime) -> list[date]:
    """The days whose bills should be there by now, newest first."""
    local = as_of.astimezone(SHANGHAI)
    latest = local.date() - timedelta(days=1 if local.hour >= READY_HOUR else 2)
    return [latest - timedelta(days=n) for n in range(DAYS_BACK)]


def run(db: Database, as_of: datetime) -> int:
    """Reconcile every merchant account's due days not done yet (a failed one after a
    while); how many days were reconciled."""
    days = due_days(as_of)
    with db.transaction() as s:
        held = s.execute(select(PaymentAccount.merchant_id, PaymentAccount.provider, PaymentAccount.created_at).where(PaymentAccount.merchant_id.is_not(None))).all()
        seen = {(b.merchant_id, b.provider, b.bill_date): b for b in s.scalars(select(BillDay).where(BillDay.bill_date.in_(days)))}
    done = 0
    for merchant_id, provider, created_at in held:
        opened = created_at.astimezone(SHANGHAI).date()
        for day in days:
            b = seen.get((merchant_id, provider, day))
            if day < opened or (b is not None and (b.status == DONE or b.checked_at > as_of - RETRY_AFTER)):
                continue
            done += reconcile_day(db, merchant_id, provider, day, as_of) == DONE
    return done


# --- what finance sees and decides -----------------------------------------------------------


@dataclass(frozen=True)
class DayView:
    day: BillDay
    differences: int
    open: int


def days(s: Session, who: Principal, merchant_id: int, limit: int = 30) -> list[DayView]:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    rows = list(s.scalars(select(BillDay).where(BillDay.merchant_id == merchant_id).order_by(BillDay.bill_date.desc(), BillDay.provider).limit(limit)))
    counts = {(p, d): (n, o) for p, d, n, o in s.execute(
        select(BillDifference.provider, BillDifference.bill_date, func.count(), func.count(BillDifference.id).filter(BillDifference.resolved_at.is_(None)))
        .where(BillDifference.merchant_id == merchant_id).group_by(BillDifference.provider, BillDifference.bill_date))}
    return [DayView(b, *counts.get((b.provider, b.bill_date), (0, 0))) for b in rows]


def differences(s: Session, who: Principal, merchant_id: int, day: date | None = None) -> list[BillDifference]:
    """A day's differences, or every open one."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    q = select(BillDifference).where(BillDifference.merchant_id == merchant_id)
    q = q.where(BillDifference.bill_date == day) if day is not None else q.where(BillDifference.resolved_at.is_(None))
    return list(s.scalars(q.order_by(BillDifference.bill_date.desc(), BillDifference.id).limit(500)))


def resolve(s: Session, who: Principal, merchant_id: int, difference_id: int, note: str, now: datetime) -> BillDifference:
    identity.require_permission(s, who, merchant_id, Permission.finance)
    text = (note or "").strip()
    if not text or len(text) > 500:
        raise Invalid("reconciliation.note_required", "Say what was decided (1 to 500 characters).")
    d = s.get(BillDifference, difference_id)
    if d is None or d.merchant_id != merchant_id:
        raise NotFound("reconciliation.not_found", "No such difference.")
    if s.execute(update(BillDifference).where(BillDifference.id == d.id, BillDifference.resolved_at.is_(None))
                 .values(resolved_at=now, resolved_by=who.member_id, note=text)).rowcount != 1:
        raise Conflict("reconciliation.already_resolved", "This difference was already resolved.")
    s.refresh(d)
    return d


def stuck_refunds(s: Session, who: Principal, merchant_id: int) -> list[PaymentRefund]:
    """Refunds the provider accepted that did not reach the buyer (failed: the amount may be
    refunded again; abnormal: to be completed at the provider), for finance to act on."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    return service.refunds_needing_action(s, merchant_id)
