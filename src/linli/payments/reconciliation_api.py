"""Reconciliation endpoints (finance and owners): the days the providers' bills were
compared with Linli's books, their differences, and resolving one with a note."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query
from pydantic import Field

from linli.payments import reconciliation
from linli.schema import Id, Input, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["payments"])


class BillDayOut(Output):
    provider: str
    bill_date: date
    status: str = Field(description="done | failed (tried again) | no_bill (the provider has none yet)")
    rows: int
    error: str | None
    checked_at: datetime
    differences: int
    open: int


class DifferenceOut(Output):
    id: int
    provider: str
    bill_date: date
    subject: str = Field(description="payment | refund")
    reference: str = Field(description="our number at the provider (out_trade_no, refund number)")
    kind: str = Field(description="missing | amount | status")
    side: str | None = Field(description="missing: who has it — provider | linli")
    provider_amount: int | None = Field(description="fen")
    linli_amount: int | None = Field(description="fen")
    provider_status: str | None
    linli_status: str | None
    found_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    note: str | None


class ReconciliationOut(Output):
    date: date | None
    days: list[BillDayOut]
    differences: list[DifferenceOut] = Field(description="the day's, or every open one when no date is given")


class ResolveIn(Input):
    note: str = Field(max_length=500, description="what was decided")


def day_out(v: reconciliation.DayView) -> BillDayOut:
    b = v.day
    return BillDayOut(provider=b.provider, bill_date=b.bill_date, status=b.status, rows=b.rows, error=b.error, checked_at=b.checked_at,
                      differences=v.differences, open=v.open)


@router.get("/merchants/{mid}/reconciliation", response_model=ReconciliationOut, responses=PROBLEMS)
def reconciliation_of(mid: Id, s: DB, who: Who, day: Annotated[date | None, Query(alias="date")] = None) -> ReconciliationOut:
    days = reconciliation.days(s, who, mid)
    found = reconciliation.differences(s, who, mid, day)
    return ReconciliationOut(date=day, days=[day_out(v) for v in days], differences=[DifferenceOut.model_validate(d) for d in found])


@router.post("/merchants/{mid}/reconciliation/{did}/resolve", response_model=DifferenceOut, responses=PROBLEMS)
def resolve(mid: Id, did: Id, body: ResolveIn, s: DB, who: Who, now: Now) -> DifferenceOut:
    return DifferenceOut.model_validate(reconciliation.resolve(s, who, mid, did, body.note, now))
