"""对账: the console page of the daily bill reconciliation, without JavaScript — the days
compared (per provider: done, failed and tried again, or no bill yet) and one day's
differences, each open until finance resolves it with a note."""

from __future__ import annotations

from datetime import date

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity.service import Principal
from linli.payments import reconciliation
from linli.schema import Id
from linli.web.console import merchant_view
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import ConsoleWho, Form, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "reconciliation.note_required": N_("Write down what was decided (at most 500 characters)."),
        "reconciliation.already_resolved": N_("This difference was already resolved."),
        "reconciliation.not_found": N_("No such difference."),
        "reconciliation.bad_date": N_("Choose a day as YYYY-MM-DD."),
    }
)

KINDS = {
    ("missing", "provider"): N_("At the provider, not in Linli"),
    ("missing", "linli"): N_("In Linli, not on the provider's bill"),
    ("amount", None): N_("Amounts differ"),
    ("status", None): N_("Status differs"),
}
SUBJECTS = {"payment": N_("Payment"), "refund": N_("Refund")}
DAY_STATUS = {"done": N_("Compared"), "failed": N_("Provider unavailable: tried again"), "no_bill": N_("No bill yet: tried again")}
PROVIDERS = {"wechatpay": N_("WeChat Pay"), "alipay": N_("Alipay")}
REFUND_STATES = {"failed": N_("Closed by the provider: may be refunded again"), "abnormal": N_("Did not reach the buyer: complete it at the provider")}


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("reconciliation.bad_date", "A day is YYYY-MM-DD.") from None


def _page(page: Page, s: Session, who: Principal, mid: int, day: date | None, *, status: int = 200, error: DomainError | None = None,
          failed: int | None = None, note: str = "") -> Response:
    days = reconciliation.days(s, who, mid)
    if day is None and days:
        day = days[0].day.bill_date
    found = reconciliation.differences(s, who, mid, day) if day is not None else []
    return page.render("payments/console_reconciliation.html", status=status, error=error, view=merchant_view(s, who, mid), days=days, day=day,
                       differences=found, stuck=reconciliation.stuck_refunds(s, who, mid), refund_states=REFUND_STATES, kinds=KINDS, subjects=SUBJECTS, day_status=DAY_STATUS, providers=PROVIDERS, failed=failed, note=note,
                       resolved=page.request.query_params.get("resolved") == "1")


@router.get("/console/merchants/{mid}/reconciliation")
def reconciliation_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    try:
        day = _day(page.request.query_params.get("date"))
    except DomainError as exc:
        return _page(page, s, who, mid, None, error=exc, status=exc.status)
    return _page(page, s, who, mid, day)


@router.post("/console/merchants/{mid}/reconciliation/{did}/resolve")
def resolve(mid: Id, did: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            d = reconciliation.resolve(s, who, mid, did, text(form, "note"), now)
    except DomainError as exc:
        day = _day(text(form, "date")) if text(form, "date") else None
        return _page(page, s, who, mid, day, error=exc, status=exc.status, failed=did, note=text(form, "note"))
    return page.redirect(f"/console/merchants/{mid}/reconciliation?date={d.bill_date.isoformat()}&resolved=1")
