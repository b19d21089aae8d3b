"""The sandbox payment sheet (H5): what WeChat Pay's sheet would show — amount, payee,
"confirm". Confirming makes the sandbox gateway send its signed callback (through the
outbox, so it arrives a moment later); the order page waits for it. A payment for
something other than an order (a stored-value top-up) comes back to this page, which then
says the payment was made (payments knows no other domain's pages) — or, when the domain
that opened it sent the member here with ``?next=<local path>``, goes back there."""

from __future__ import annotations

from fastapi.responses import Response

from linli.errors import DomainError, NotFound
from linli.i18n import N_
from linli.identity import service as identity
from linli.money import format_yuan
from linli.payments import service
from linli.payments.models import Payment
from linli.schema import Id
from linli.web import templating
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import Form, MemberWho, PageDep, attempt, error_messages, safe_next, text

router = deps_router(include_in_schema=False)
templating.env.filters.setdefault("yuan", format_yuan)

error_messages(
    {
        "payment.not_found": N_("No such payment."),
        "payment.not_pending": N_("This payment is no longer waiting to be paid."),
        "payment.not_paid": N_("There is no payment to refund."),
        "payment.refund_exceeds": N_("The refund exceeds what was paid."),
        "payment.refund_failed": N_("The payment service refused the refund; please try again later."),
    }
)


def _methods(s, p: Payment) -> list[tuple[str, str]]:
    """The real providers' ways to pay an order at this merchant (the order page opens them)."""
    return service.method_choices(s, p.merchant_id) if p.order_id is not None else []


def _own(s, member_id: int, pid: int) -> Payment:
    p = service.get_payment(s, pid)
    if p.member_id != member_id:
        raise NotFound("payment.not_found", "No such payment.")
    return p


def _order_url(p: Payment, confirming: bool = False) -> str:
    # Another subject (a top-up) comes back here: this page then says what happened.
    base = f"/m/pay/{p.id}" if p.order_id is None else f"/m/orders/{p.order_id}"
    return base + ("?confirming=1" if confirming else "")


def _next(p: Payment, raw: str | None) -> str | None:
    """Where a payment for another subject goes back to (a local path), if it was given one."""
    return None if p.order_id is not None or not raw else safe_next(raw, "") or None


@router.get("/m/pay/{pid}")
def sheet(pid: Id, page: PageDep, s: DB, who: MemberWho, confirming: bool = False) -> Response:
    p = _own(s, who.member_id, pid)
    merchant = identity.public_merchant(s, p.merchant_id)
    back = _next(p, page.request.query_params.get("next"))
    if p.order_id is None and (p.status != "pending" or confirming):
        if back:
            return page.redirect(back)
        return page.render("payments/done.html", payment=p, merchant=merchant)
    if p.status != "pending":  # paid, or closed with its order: the order page says which
        return page.redirect(_order_url(p))
    return page.render("payments/sheet.html", payment=p, merchant=merchant, back=back, methods=_methods(s, p))


@router.post("/m/pay/{pid}")
def confirm(pid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    p = _own(s, who.member_id, pid)
    back = _next(p, text(form, "next"))
    try:
        with attempt(s):
            service.sandbox_complete(s, who.member_id, pid, now)
    except DomainError as exc:
        if exc.code == "payment.not_pending":
            return page.redirect(back or _order_url(p))
        return page.render("payments/sheet.html", status=exc.status, error=exc, payment=p, merchant=identity.public_merchant(s, p.merchant_id), back=back,
                           methods=_methods(s, p))
    return page.redirect(back or _order_url(p, confirming=True))
