"""The member page of an order waiting in a flash-sale queue (``/m/orders/queued/{ticket}``).

Checkout sends a plain flash-sale order here when the Redis gate queued it: the page says
the unit is held and the order is being placed, re-reads itself every second (HTMX), and
goes to the order page, where the buyer pays, as soon as the order exists. If placing it
failed the page says why and links back to the sale.
"""

from __future__ import annotations

from fastapi import Path
from fastapi.responses import Response

from linli.errors import DomainError, NotFound
from linli.i18n import N_
from linli.orders import ports
from linli.web.deps import router as deps_router
from linli.web.pages import MemberWho, Page, PageDep, error_messages

router = deps_router(include_in_schema=False)

error_messages({"order.ticket_not_found": N_("No such queued order.")})

POLL_SECONDS = 1
Ticket = Path(max_length=60, pattern=r"^[0-9.-]+$")


def _page(page: Page, who, ticket: str, *, fragment: bool) -> Response:
    t = ports.queue.get().ticket(who.member_id, ticket)
    if t is None:
        raise NotFound("order.ticket_not_found", "No such queued order.")
    if t.status == "created":
        return page.redirect(f"/m/orders/{t.order_id}")
    reason = page.error_text(DomainError(t.code, t.detail or "")) if t.status == "refused" else None
    name = "orders/_queued.html" if fragment else "orders/queued.html"
    return page.render(name, t=t, reason=reason, poll_seconds=POLL_SECONDS)


@router.get("/m/orders/queued/{ticket}")
def queued(page: PageDep, who: MemberWho, ticket: str = Ticket) -> Response:
    return _page(page, who, ticket, fragment=False)


@router.get("/m/orders/queued/{ticket}/live")
def queued_live(page: PageDep, who: MemberWho, ticket: str = Ticket) -> Response:
    """The card alone, polled while the order waits."""
    return _page(page, who, ticket, fragment=True)
