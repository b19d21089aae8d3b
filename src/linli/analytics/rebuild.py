"""``linli analytics rebuild``: recompute a merchant's rollups from its paid orders, report
every difference from what the handlers kept, and write the recomputed figures.

The same pure function the handlers apply (``rules.day_rows`` / ``rules.member_rows``) is
summed over every paid order as the orders service reads it now. Who brought an order is
taken from its recorded facts (attribution is recorded once, when the order is first
counted); an order never counted (paid before analytics was deployed, or its event not
handled yet) is attributed now. With ``since``, only the rows of days from ``since`` on are
compared and rewritten (every order is still read: a refund today can belong to an older
order); an order whose facts changed (or that was never counted) has its change on the days
before ``since`` applied as a restatement would, so no day and no stored fact disagree. Arrivals (bindings, community choices) are events, not orders: they are kept, and
each member's firsts are recomputed from the orders.

One transaction per merchant, holding the merchant's analytics row exclusively, so no
restatement commits between the read and the write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from linli.analytics import rules, service
from linli.analytics.models import AnalyticsDay, AnalyticsMember, AnalyticsMemberDay, AnalyticsMerchant, AnalyticsOrder
from linli.db import Database, insert_ignore
from linli.identity import service as identity
from linli.orders import service as orders

_DAY_COLS = ("merchant_id", "day", "community_id", "leader_id", "sharer_id", "campaign_id")
_MEMBER_COLS = ("merchant_id", "member_id", "day")


@dataclass
class Report:
    merchants: int = 0
    orders: int = 0
    day_rows: int = 0
    member_day_rows: int = 0
    differences: list[str] = field(default_factory=list)  # "<table> <key>: <column> kept X, orders say Y"

    @property
    def clean(self) -> bool:
        return not self.differences


def _kept(s: Session, model, cols: tuple[str, ...], fields: tuple[str, ...], merchant_id: int, since: date | None) -> dict:
    q = select(*(model.__table__.c[c] for c in cols + fields)).where(model.merchant_id == merchant_id)
    if since is not None:
        q = q.where(model.day >= since)
    out = {}
    for row in s.execute(q):
        sums = {f: int(v) for f, v in zip(fields, row[len(cols):]) if v}
        if sums:
            out[tuple(row[:len(cols)])] = sums
    return out


def _compare(table: str, kept: dict, expected: dict, out: list[str]) -> None:
    for key in sorted(set(kept) | set(expected)):
        a, b = kept.get(key, {}), expected.get(key, {})
        for col in sorted(set(a) | set(b)):
            if a.get(col, 0) != b.get(col, 0):
                out.append(f"{table} {tuple(str(k) for k in key)}: {col} kept {a.get(col, 0)}, orders say {b.get(col, 0)}")


def _write(s: Session, model, cols: tuple[str, ...], merchant_id: int, since: date | None, rows: dict) -> None:
    q = delete(model).where(model.merchant_id == merchant_id)
    if since is not None:
        q = q.where(model.day >= since)
    s.execute(q)
    values = [{**dict(zip(cols, key)), **sums} for key, sums in sorted(rows.items())]
    for i in range(0, len(values), 1000):
        chunk = values[i:i + 1000]
        fields = sorted({f for v in chunk for f in v} - set(cols))
        s.execute(insert(model), [{**{f: 0 for f in fields}, **v} for v in chunk])


def rebuild_merchant(s: Session, merchant_id: int, since: date | None, report: Report, progress: Callable[[int], None] | None = None) -> None:
    s.execute(insert_ignore(s, AnalyticsMerchant, {"merchant_id": merchant_id}, ["merchant_id"]))
    s.execute(select(AnalyticsMerchant.merchant_id).where(AnalyticsMerchant.merchant_id == merchant_id).with_for_update())
    days: dict = {}
    members: dict = {}
    before_days: dict = {}
    before_members: dict = {}
    firsts: dict[int, rules.Firsts] = {}
    after = 0
    while page := orders.paid_orders_page(s, merchant_id, after):
        after = page[-1].order_id
        # Plain rows, not ORM objects: nothing accumulates in the session over a big merchant.
        table = AnalyticsOrder.__table__
        recorded = {r.order_id: r for r in s.execute(select(table).where(table.c.order_id.in_([o.order_id for o in page])))}
        for o in page:
            row = recorded.get(o.order_id)
            f = service.fact_of(o, service.recorded(row) if row is not None else service.attribution(s, o))
            rules.add_rows(days, rules.day_rows(f))
            rules.add_rows(members, rules.member_rows(f))
            firsts.setdefault(o.member_id, rules.Firsts()).see(f)
            values = service.fact_values(f)
            stored = service.stored_fact(row) if row is not None and row.counted else None
            if since is not None and stored != f:
                # The days before ``since`` are not rewritten: they take this order's change
                # the way a restatement would, so its stored facts and every day agree.
                rules.add_rows(before_days, {k: v for k, v in rules.difference(rules.day_rows(stored) if stored else {}, rules.day_rows(f)).items() if k[1] < since})
                rules.add_rows(before_members, {k: v for k, v in rules.difference(rules.member_rows(stored) if stored else {}, rules.member_rows(f)).items() if k[2] < since})
            if row is None:
                s.execute(insert_ignore(s, AnalyticsOrder, {**values, "counted": True}, ["order_id"]))
            elif service.stored_fact(row) != f or not row.counted:
                s.execute(update(table).where(table.c.order_id == o.order_id).values(**values, counted=True))
        report.orders += len(page)
        if progress:
            progress(len(page))
    days = {k: v for k, v in days.items() if any(v.values()) and (since is None or k[1] >= since)}
    members = {k: v for k, v in members.items() if any(v.values()) and (since is None or k[2] >= since)}
    _compare("analytics_days", _kept(s, AnalyticsDay, _DAY_COLS, rules.DAY_FIELDS, merchant_id, since), days, report.differences)
    _compare("analytics_member_days", _kept(s, AnalyticsMemberDay, _MEMBER_COLS, rules.MEMBER_FIELDS, merchant_id, since), members, report.differences)
    for key, sums in sorted(before_days.items()):
        report.differences.append(f"analytics_days {tuple(str(k) for k in key)}: before --from, orders say {sums} more")
    service.apply(s, before_days, before_members)
    _write(s, AnalyticsDay, _DAY_COLS, merchant_id, since, days)
    _write(s, AnalyticsMemberDay, _MEMBER_COLS, merchant_id, since, members)
    _refresh_members(s, merchant_id, firsts, report.differences)
    report.merchants += 1
    report.day_rows += len(days)
    report.member_day_rows += len(members)


def _refresh_members(s: Session, merchant_id: int, firsts: dict[int, rules.Firsts], out: list[str]) -> None:
    kept = {m.member_id: m for m in s.scalars(select(AnalyticsMember).where(AnalyticsMember.merchant_id == merchant_id))}
    for member_id in sorted(set(kept) | set(firsts)):
        m = kept.get(member_id)
        if m is None:
            m = AnalyticsMember(merchant_id=merchant_id, member_id=member_id, inviter_id=0, community_id=0, first_received_attributed=False)
            s.add(m)
        before = (m.first_day, m.first_received_day, bool(m.first_received_attributed))
        service.set_firsts(m, firsts.get(member_id) or rules.Firsts())
        if before != (m.first_day, m.first_received_day, m.first_received_attributed):
            out.append(f"analytics_members ({merchant_id}, {member_id}): firsts kept {before}, orders say {(m.first_day, m.first_received_day, m.first_received_attributed)}")


def rebuild(db: Database, now: datetime, merchant_id: int | None = None, since: date | None = None, progress: Callable[[int], None] | None = None, *,
            write: bool = True) -> Report:
    """Rebuild every merchant (or one), each in its own transaction; with ``write=False``
    only compare (the transaction is rolled back)."""
    report = Report()
    with db.transaction() as s:
        ids = [merchant_id] if merchant_id is not None else identity.merchant_ids(s)
    for mid in ids:
        s = db.sessions()
        try:
            rebuild_merchant(s, mid, since, report, progress)
            s.execute(update(AnalyticsMerchant).where(AnalyticsMerchant.merchant_id == mid).values(rebuilt_at=now))
            s.commit() if write else s.rollback()
        finally:
            s.close()
    return report


def count_paid_orders(db: Database, merchant_id: int | None = None) -> int:
    """For the progress bar's total."""
    with db.transaction() as s:
        ids = [merchant_id] if merchant_id is not None else identity.merchant_ids(s)
        return sum(orders.count_paid_orders(s, mid) for mid in ids)
