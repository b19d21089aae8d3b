"""Community pages: the merchant page's communities section (pickup points, leaders) and
its forms. With HTMX a form re-renders only its community's card."""

from __future__ import annotations

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from linli.community import service
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view, render_merchant
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.pages import (
    ConsoleWho,
    Form,
    Page,
    PageDep,
    attempt,
    error_messages,
    text,
)

router = deps_router(include_in_schema=False)

error_messages(
    {
        "community.name_invalid": N_("A community name has 1 to 60 characters."),
        "community.city_invalid": N_("A city has 1 to 30 characters."),
        "community.pickup_name_invalid": N_("A pickup point name has 1 to 60 characters."),
        "community.address_invalid": N_("An address has 1 to 200 characters."),
        "community.location_invalid": N_("Latitude must be within ±90 and longitude within ±180."),
        "community.exists": N_("This city already has a community with this name."),
        "community.not_found": N_("No such community."),
    }
)


def _coordinates(form: FormData) -> tuple[float, float]:
    try:
        return float(text(form, "lat")), float(text(form, "lng"))
    except ValueError:
        raise Invalid("community.location_invalid", "Latitude must be within ±90 and longitude within ±180.") from None


def _cards(s: Session, communities: list) -> list[dict]:
    points = service.pickup_points_of(s, [c.id for c in communities])
    leaders = identity.members_by_ids(s, [c.leader_member_id for c in communities if c.leader_member_id])
    return [{"community": c, "points": points[c.id], "leader": leaders.get(c.leader_member_id)} for c in communities]


def _context(page: Page, view: MerchantView, state: dict) -> dict:
    return {"page": page, "translations": page.translations, "view": view, "state": state, "can_manage": view.can(Permission.manage_communities)}


@merchant_section(order=10)
def communities_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    cards = _cards(s, service.list_communities(s, page.who, view.merchant.id))
    return Markup(templating.render("community/_section.html", {**_context(page, view, state), "cards": cards}))


def _card(page: Page, s: Session, who: Principal, mid: int, cid: int, state: dict, status: int = 200) -> Response:
    """One community's card (HTMX) or, without HTMX, the whole merchant page."""
    if not page.is_htmx:
        return render_merchant(page, s, who, mid, state, status) if state else page.redirect(f"/console/merchants/{mid}#community-{cid}")
    view = merchant_view(s, who, mid)
    card = _cards(s, [service.get_community(s, who, mid, cid)])[0]
    return page.render("community/_card.html", status=status, card=card, view=view, state=state, can_manage=view.can(Permission.manage_communities))


@router.post("/console/merchants/{mid}/communities")
def create_community(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    values = {k: text(form, k) for k in ("name", "city", "lat", "lng")}
    try:
        with attempt(s):
            lat, lng = _coordinates(form)
            c = service.create_community(s, who, mid, values["name"], values["city"], lat, lng, now)
    except DomainError as exc:
        return render_merchant(page, s, who, mid, {"community_form": values, "community_error": page.error_text(exc)}, exc.status)
    return page.redirect(f"/console/merchants/{mid}#community-{c.id}")


@router.post("/console/merchants/{mid}/communities/{cid}/pickup-points")
def add_pickup_point(mid: Id, cid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    values = {k: text(form, k) for k in ("name", "address", "lat", "lng")}
    try:
        with attempt(s):
            lat, lng = _coordinates(form)
            service.add_pickup_point(s, who, mid, cid, values["name"], values["address"], lat, lng, now)
    except DomainError as exc:
        return _card(page, s, who, mid, cid, {"card": cid, "point_form": values, "point_error": page.error_text(exc)}, exc.status)
    return _card(page, s, who, mid, cid, {"card": cid, "notice": page._(N_("Pickup point added."))} if page.is_htmx else {})


@router.post("/console/merchants/{mid}/communities/{cid}/leader")
def set_leader(mid: Id, cid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    phone = text(form, "phone")
    try:
        with attempt(s):
            member = identity.get_or_create_member(s, phone, now) if phone else None
            service.set_leader(s, who, mid, cid, member.id if member else None)
    except DomainError as exc:
        return _card(page, s, who, mid, cid, {"card": cid, "leader_form": {"phone": phone}, "leader_error": page.error_text(exc)}, exc.status)
    return _card(page, s, who, mid, cid, {"card": cid, "notice": page._(N_("Leader saved."))} if page.is_htmx else {})
