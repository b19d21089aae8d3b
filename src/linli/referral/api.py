"""Referral endpoints: my invite code and link, binding, becoming a sharer, my team, and
the merchant's sharer desk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Query, Request, Response
from pydantic import ConfigDict

from linli.catalog import service as catalog
from linli.errors import NotFound, ServiceUnavailable
from linli.identity import rules as identity_rules
from linli.identity import service as identity
from linli.referral import poster, service
from linli.schema import FeeFreeInput, Id, Input, Output
from linli.web.deps import DB, Ctx, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["referral"])


class InviteOut(Output):
    merchant_id: int
    code: str
    link: str


class BindIn(Input):
    invite_code: str


class BindingOut(Output):
    merchant_id: int
    inviter_id: int | None
    bound: bool


class SharerOut(Output):
    merchant_id: int
    member_id: int
    status: str


class SharerRow(SharerOut):
    nickname: str
    phone_masked: str


class ApplyIn(FeeFreeInput):
    """Applying takes nothing: becoming a sharer never costs money, so a fee in the body is
    refused (compliance.entry_fee); anything else in it is ignored, as without a body."""

    model_config = ConfigDict(extra="ignore")


class DecideIn(FeeFreeInput):
    note: str | None = None


class AppointIn(FeeFreeInput):
    phone: str


class TeamMember(Output):
    member_id: int
    nickname: str
    level: int
    sharer_status: str


def invite_link(request: Request, code: str) -> str:
    return str(request.base_url).rstrip("/") + f"/i/{code}"


@router.get("/me/invite", response_model=InviteOut, responses=PROBLEMS)
def my_invite(request: Request, s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()], campaign_id: Id | None = Query(default=None)) -> InviteOut:
    """The member's personal code, or with ``campaign_id`` a leader's code for that
    campaign (orders through it earn the leader's commission)."""
    c = service.campaign_code(s, who.member_id, merchant_id, campaign_id, now) if campaign_id else service.my_code(s, who.member_id, merchant_id, now)
    return InviteOut(merchant_id=merchant_id, code=c.code, link=invite_link(request, c.code))


@router.get("/me/poster", responses={**PROBLEMS, 200: {"content": {"image/png": {}}}}, response_class=Response)
def my_poster(request: Request, s: DB, who: Who, ctx: Ctx, now: Now, merchant_id: Annotated[Id, Query()], product_id: Id | None = Query(default=None),
              preview: bool = Query(default=False, description="The sharer centre's own view of it: not a share")) -> Response:
    """A share poster: the product (or the shop), the member's nickname, and a QR code of
    their invite link (which opens the product when one is given). Taking it is a share
    (the dashboards' funnel), unless it is the centre's ``preview``."""
    c = service.my_code(s, who.member_id, merchant_id, now)
    shop = identity.public_merchant(s, merchant_id)
    me = identity.get_member(s, who.member_id)
    link = invite_link(request, c.code)
    name, price, picture = shop.name, None, None
    if product_id is not None:
        p = catalog.public_product(s, product_id)
        if p.merchant_id != merchant_id:
            raise NotFound("product.not_found", "No such product.")
        skus = catalog.skus_of(s, [p.id])[p.id]
        name, price = p.name, min(k.price for k in skus) if skus else None
        link += f"?p={p.id}"
        if p.image:
            path = Path(ctx.settings.media_dir) / p.image
            picture = path.read_bytes() if path.is_file() else None
    if not preview:
        service.code_shared(s, c, product_id, now)  # before the drawing: a GET that writes runs again once promoted
    try:
        png = poster.render(shop=shop.name, product=name, price=price, nickname=me.nickname, link=link, picture=picture)
    except poster.FontMissing as exc:
        raise ServiceUnavailable("poster.font_missing", str(exc)) from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.post("/merchants/{mid}/bindings", response_model=BindingOut, responses=PROBLEMS)
def bind(mid: Id, body: BindIn, s: DB, who: Who, now: Now) -> BindingOut:
    service.bind(s, who.member_id, body.invite_code, now, merchant_id=mid)
    return BindingOut(merchant_id=mid, inviter_id=service.inviter_of(s, mid, who.member_id), bound=True)


@router.get("/me/binding", response_model=BindingOut, responses=PROBLEMS)
def my_binding(s: DB, who: Who, merchant_id: Annotated[Id, Query()]) -> BindingOut:
    inviter = service.inviter_of(s, merchant_id, who.member_id)
    return BindingOut(merchant_id=merchant_id, inviter_id=inviter, bound=inviter is not None)


@router.post("/merchants/{mid}/sharer", response_model=SharerOut, responses=PROBLEMS)
def apply_sharer(mid: Id, s: DB, who: Who, now: Now, body: ApplyIn | None = None) -> SharerOut:
    row = service.apply(s, who.member_id, mid, now)
    return SharerOut(merchant_id=mid, member_id=who.member_id, status=row.status)


@router.get("/me/sharer", response_model=SharerOut, responses=PROBLEMS)
def my_sharer(s: DB, who: Who, merchant_id: Annotated[Id, Query()]) -> SharerOut:
    return SharerOut(merchant_id=merchant_id, member_id=who.member_id, status=service.sharer_status(s, merchant_id, who.member_id))


@router.get("/me/team", response_model=list[TeamMember], responses=PROBLEMS)
def my_team(s: DB, who: Who, merchant_id: Annotated[Id, Query()]) -> list[TeamMember]:
    layers = service.team(s, who, merchant_id)
    ids = [m for layer in layers for m in layer]
    members = identity.members_by_ids(s, ids)
    active = service.active_sharers(s, merchant_id, ids)
    return [
        TeamMember(member_id=m, nickname=members[m].nickname, level=i, sharer_status="active" if m in active else service.sharer_status(s, merchant_id, m))
        for i, layer in enumerate(layers, start=1)
        for m in layer
    ]


def _rows(s, rows) -> list[SharerRow]:
    members = identity.members_by_ids(s, [r.member_id for r in rows])
    return [SharerRow(merchant_id=r.merchant_id, member_id=r.member_id, status=r.status, nickname=members[r.member_id].nickname, phone_masked=identity_rules.mask_phone(members[r.member_id].phone)) for r in rows]


@router.get("/merchants/{mid}/sharers", response_model=list[SharerRow], responses=PROBLEMS)
def sharers(mid: Id, s: DB, who: Who, status: str | None = Query(default=None, pattern="^(applied|active|suspended|rejected)$")) -> list[SharerRow]:
    return _rows(s, service.list_sharers(s, who, mid, status))


@router.post("/merchants/{mid}/sharers", status_code=201, response_model=SharerRow, responses=PROBLEMS)
def appoint(mid: Id, body: AppointIn, s: DB, who: Who, now: Now) -> SharerRow:
    return _rows(s, [service.appoint(s, who, mid, body.phone, now)])[0]


@router.post("/merchants/{mid}/sharers/{member_id}/{action}", response_model=SharerRow, responses=PROBLEMS)
def decide(mid: Id, member_id: Id, action: str, s: DB, who: Who, now: Now, body: DecideIn | None = None) -> SharerRow:
    return _rows(s, [service.decide(s, who, mid, member_id, action, now, body.note if body else None)])[0]
