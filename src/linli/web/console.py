"""The console's merchant page furniture: which merchant a page shows and what the caller's
role may do there (``MerchantView``), the sections domains add to the merchant page
(``@merchant_section``), and the page itself (``render_merchant``: staff plus sections)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def merchant_section(order: int) -> Callable[[Section], Section]:
    """Let a domain add a section to the merchant page (lower ``order`` first)."""

    def register(fn: Section) -> Section:
        if all(f is not fn for _, f in _sections):
            _sections.append((order, fn))
            _sections.sort(key=lambda item: item[0])
        return fn

    return register


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
