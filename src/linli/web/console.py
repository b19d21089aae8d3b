"""The console's merchant page furniture: which merchant a page shows and what the caller's
role may do there (``MerchantView``), the sections domains add to the merchant page
(``@merchant_section``), the page itself (``render_merchant``: staff plus sections), and
the panels domains add to an order's console page (``@order_panel``). A domain registers
its sections and panels when its pages module is imported (the app factory imports them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.i18n import N_
from linli.identity import service
from linli.identity.models import Merchant
from linli.identity.rules import Permission, Role, role_allows
from linli.identity.service import Principal
from linli.web.pages import Page

ROLE_NAMES = {
    "owner": N_("Owner"),
    "operator": N_("Operator"),
    "finance": N_("Finance"),
    "service": N_("Customer service"),
    "admin": N_("Platform admin"),
}
ROLES = [r.value for r in Role]
F = TypeVar("F")


@dataclass(frozen=True)
class MerchantView:
    """The merchant a console page shows, and what the caller's role may do there."""

    merchant: Merchant
    role: str  # a staff role, or "admin" for platform administrators

    def can(self, permission: Permission | str) -> bool:
        return self.role == "admin" or role_allows(self.role, Permission(permission))


# A section renders part of the merchant page: (page, session, view, state) -> HTML.
Section = Callable[[Page, Session, MerchantView, dict], Markup]
_sections: list[tuple[int, Section]] = []
# A panel adds facts to an order's console page: (page, session, view, order id) -> HTML,
# or None when it has nothing to say about that order.
OrderPanel = Callable[[Page, Session, MerchantView, int], Markup | None]
_order_panels: list[tuple[int, OrderPanel]] = []


def _registrar(registry: list[tuple[int, F]], order: int) -> Callable[[F], F]:
    def register(fn: F) -> F:
        if all(f is not fn for _, f in registry):
            registry.append((order, fn))
            registry.sort(key=lambda item: item[0])
        return fn

    return register


def merchant_section(order: int) -> Callable[[Section], Section]:
    """Let a domain add a section to the merchant page (lower ``order`` first)."""
    return _registrar(_sections, order)


def order_panel(order: int) -> Callable[[OrderPanel], OrderPanel]:
    """Let a domain add a panel to an order's console page (lower ``order`` first)."""
    return _registrar(_order_panels, order)


def order_panels(page: Page, s: Session, view: MerchantView, order_id: int) -> list[Markup]:
    """The panels of one order's console page, in order (those with something to show)."""
    return [html for _, fn in _order_panels if (html := fn(page, s, view, order_id)) is not None]


def merchant_view(s: Session, who: Principal, merchant_id: int) -> MerchantView:
    merchant = service.get_merchant(s, who, merchant_id)
    role = "admin" if who.is_admin else service.staff_role(s, who.member_id, merchant_id) or ""
    return MerchantView(merchant, role)


def render_merchant(page: Page, s: Session, who: Principal, merchant_id: int, state: dict | None = None, status: int = 200) -> Response:
    """The whole merchant page; ``state`` carries a failed form's values and message."""
    view = merchant_view(s, who, merchant_id)
    state = state or {}
    sections = [fn(page, s, view, state) for _, fn in _sections]
    staff = service.list_staff(s, who, merchant_id)
    return page.render("identity/merchant.html", status=status, view=view, staff=staff, sections=sections, roles=ROLE_NAMES, staff_roles=ROLES, state=state)
