"""Member H5 wallet sub-pages: topping up stored value (a plan 充X送Y or any amount, paid on
the sandbox sheet, then back to the wallet once the payment is credited), refunding the
principal (a confirmation that states the bonus forfeited) and the points statement."""

from __future__ import annotations

from datetime import datetime

from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.errors import DomainError, Invalid, NotFound
from linli.i18n import N_
from linli.identity import service as identity
from linli.money import parse_yuan
from linli.rewards import rules, statement, stored_value, wallet
from linli.rewards.models import Topup
from linli.schema import Id
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import Form, MemberWho, Page, PageDep, attempt, error_messages, text

router = deps_router(include_in_schema=False)

error_messages(
    {
        "topup.invalid": N_("A top-up pays at least 0.01 yuan."),
        "topup.amount_format": N_("Enter an amount in yuan with at most 2 decimals, e.g. 100 or 9.90."),
        "topup.not_found": N_("No such top-up."),
        "stored_value.over_cap": N_("A member holds at most 5,000 yuan of stored value per shop."),
        "stored_value.nothing_to_refund": N_("There is no principal to refund."),
        "stored_value.changed": N_("Your stored value changed meanwhile; try again."),
    }
)

MAX_POLLS = 60  # the top-up page stops waiting for the payment callback after about a minute
STATEMENT_PAGE = 30
REASON_NAMES = {
    "earned": N_("Earned (pending)"), "available": N_("Now available"), "redeemed": N_("Paid an order"), "returned": N_("Given back"),
    "reversed": N_("Taken back by a refund"), "expired": N_("Expired"), "reward": N_("Invitation reward"),
}


def _wallet_url(mid: int) -> str:
    return f"/m/wallet/{mid}"


def _plans(s: Session, mid: int) -> list[rules.Plan]:
    return [rules.Plan(p.pay, p.bonus) for p in stored_value.plans(s, mid)]


def _topup_page(page: Page, s: Session, who, mid: int, now: datetime, *, error: DomainError | None = None, amount: str = "", choice: str = "", status: int = 200) -> Response:
    merchant = identity.public_merchant(s, mid)
    w = wallet.of(s, who.member_id, mid, now)
    room = max(0, rules.STORED_VALUE_CAP - w.sv_principal - w.sv_bonus)
    return page.render("rewards/topup.html", status=status, error=error, merchant=merchant, w=w, plans=_plans(s, mid), room=room, amount=amount, choice=choice)


@router.get("/m/wallet/{mid}/topup")
def topup_form(mid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    return _topup_page(page, s, who, mid, now)


@router.post("/m/wallet/{mid}/topup")
def topup(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    """A plan's amount (``plan`` = fen) or an amount typed in yuan (``plan`` = ``other``)."""
    choice, amount = text(form, "plan")[:12], text(form, "amount")[:12]
    try:
        with attempt(s):
            if choice and choice != "other":
                if not (choice.isascii() and choice.isdigit()) or int(choice) not in {p.pay for p in _plans(s, mid)}:
                    raise Invalid("topup.invalid", "Choose a plan or type an amount.")
                pay = int(choice)
            else:
                try:
                    pay = parse_yuan(amount)
                except ValueError:
                    raise Invalid("topup.amount_format", "Enter an amount in yuan with at most 2 decimals.", field="amount") from None
            t, p = stored_value.create_topup(s, who.member_id, mid, pay, now)
            p = p.payment
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return _topup_page(page, s, who, mid, now, error=exc, amount=amount, choice=choice, status=exc.status)
    return page.redirect(f"/m/pay/{p.id}?next=/m/wallet/{mid}/topups/{t.id}")


def _own_topup(s: Session, member_id: int, mid: int, tid: int) -> Topup:
    t = s.get(Topup, tid)
    if t is None or t.member_id != member_id or t.merchant_id != mid:
        raise NotFound("topup.not_found", "No such top-up.")
    return t


@router.get("/m/wallet/{mid}/topups/{tid}")
def topup_status(mid: Id, tid: Id, page: PageDep, s: DB, who: MemberWho) -> Response:
    """Back from the payment sheet: credited → the wallet; otherwise wait for the callback
    (the page polls), or say it was refunded (over the cap when it arrived)."""
    t = _own_topup(s, who.member_id, mid, tid)
    if t.status == "paid":
        return page.redirect(f"{_wallet_url(mid)}?topped_up={t.id}#stored-value")
    raw = page.request.query_params.get("n", "")
    polls = int(raw) if raw.isdigit() and len(raw) <= 4 else 0
    name = "rewards/_topup_status.html" if page.is_htmx else "rewards/topup_status.html"
    return page.render(name, merchant=identity.public_merchant(s, mid), t=t, polls=polls, max_polls=MAX_POLLS)


# --- principal refund -------------------------------------------------------------------------


def _refund_page(page: Page, s: Session, who, mid: int, now: datetime, *, error: DomainError | None = None, status: int = 200) -> Response:
    merchant = identity.public_merchant(s, mid)
    w = wallet.of(s, who.member_id, mid, now)
    forfeit = rules.bonus_forfeited(w.sv_principal, w.sv_principal, w.sv_bonus)
    return page.render("rewards/refund.html", status=status, error=error, merchant=merchant, w=w, forfeit=forfeit)


@router.get("/m/wallet/{mid}/refund")
def refund_form(mid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    return _refund_page(page, s, who, mid, now)


@router.post("/m/wallet/{mid}/refund")
def refund(mid: Id, page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    try:
        with attempt(s):
            r = stored_value.refund_principal(s, who.member_id, mid, now)
    except DomainError as exc:
        if exc.code == "merchant.not_found":
            raise
        return _refund_page(page, s, who, mid, now, error=exc, status=exc.status)
    return page.redirect(f"{_wallet_url(mid)}?refunded={r.id}#stored-value")


# --- points statement -------------------------------------------------------------------------


@router.get("/m/wallet/{mid}/points")
def points_statement(mid: Id, page: PageDep, s: DB, who: MemberWho, now: Now) -> Response:
    """The movements of the member's points, newest first (``GET /me/points``), paged with
    ``before`` = the last movement's id."""
    merchant = identity.public_merchant(s, mid)
    raw = page.request.query_params.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    moves = statement.of(s, who.member_id, mid, limit=STATEMENT_PAGE, before=before)
    w = wallet.of(s, who.member_id, mid, now)
    return page.render("rewards/points.html", merchant=merchant, w=w, moves=moves, reasons=REASON_NAMES, more=len(moves) == STATEMENT_PAGE)
