"""Risk pages (console): the order page's risk panel (a share refused on the order, why).
The case desk joins it here."""

from __future__ import annotations

from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.identity import service as identity
from linli.identity.rules import Permission, mask_phone
from linli.risk import cases, rules
from linli.web import templating
from linli.web.console import MerchantView, order_panel
from linli.web.deps import router as deps_router
from linli.web.pages import Page

router = deps_router()


@order_panel(order=20)
def risk_panel(page: Page, s: Session, view: MerchantView, order_id: int) -> Markup | None:
    """What risk decided on this order: a self-referral's refused share, 跨区引流's refused
    leader share, a finding that joined a sharer's case (finance and owners see the case)."""
    decisions = cases.decisions_on(s, view.merchant.id, rules.ORDER, order_id)
    if not decisions:
        return None
    members = identity.members_by_ids(s, list({d.member_id for d in decisions}))
    phones = {m.id: mask_phone(m.phone) for m in members.values()}
    context = {"page": page, "translations": page.translations, "decisions": decisions, "phones": phones, "merchant_id": view.merchant.id, "can_desk": view.can(Permission.finance)}
    return Markup(templating.render("risk/_order_panel.html", context))
