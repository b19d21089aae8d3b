"""Identity endpoints: OTP login, /me, merchants and staff."""

from __future__ import annotations

from fastapi import Request, Response, status

from linli.identity import rules, service
from linli.identity.ports import homes
from linli.identity.schemas import (
    LoginRequest,
    LoginResult,
    MeCommunity,
    MeMerchant,
    MeOut,
    MePatch,
    MerchantCreate,
    MerchantOut,
    OtpRequest,
    OtpSent,
    StaffCreate,
    StaffOut,
    StaffPatch,
)
from linli.identity.service import Principal
from linli.schema import Id
from linli.web.deps import DB, Ctx, Now, Who, client_ip
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["identity"])


@router.post("/auth/otp", status_code=status.HTTP_202_ACCEPTED, response_model=OtpSent, responses=PROBLEMS)
def request_otp(body: OtpRequest, request: Request, s: DB, ctx: Ctx, now: Now) -> OtpSent:
    phone, code, expires = service.request_otp(s, ctx.settings, ctx.limiter, body.phone, client_ip(request), now)
    # The code was queued for the SMS channel; only outside production is it also answered.
    return OtpSent(phone=phone, expires_at=expires, debug_code=None if ctx.settings.is_production else code)


@router.post("/auth/login", response_model=LoginResult, responses=PROBLEMS)
def login(body: LoginRequest, request: Request, s: DB, ctx: Ctx, now: Now) -> LoginResult:
    member, token, created = service.login(s, ctx.settings, ctx.limiter, body.phone, body.code, client_ip(request), now, body.invite_code)
    return LoginResult(access_token=token, member_id=member.id, created=created)


def me_view(s, who: Principal) -> MeOut:
    m = service.get_member(s, who.member_id)
    home = homes.get().home_of(s, m.id)
    merchants = service.list_merchants(s, Principal(who.member_id, who.phone, False))
    leads = homes.get().led_by(s, m.id)
    return MeOut(
        id=m.id,
        phone=m.phone,
        nickname=m.nickname,
        birthday=m.birthday,
        community_id=home.id if home else None,
        community=MeCommunity.model_validate(home) if home else None,
        is_platform_admin=who.is_admin,
        staff_of=[MeMerchant(merchant_id=mm.id, name=mm.name, role=role) for mm, role in merchants],
        leads=[MeCommunity.model_validate(c) for c in leads],
    )


@router.get("/me", response_model=MeOut, responses=PROBLEMS)
def get_me(s: DB, who: Who) -> MeOut:
    return me_view(s, who)


@router.patch("/me", response_model=MeOut, responses=PROBLEMS)
def patch_me(body: MePatch, s: DB, who: Who, now: Now) -> MeOut:
    fields = body.model_fields_set
    service.update_profile(
        s, who.member_id, now, nickname=body.nickname, birthday=body.birthday, clear_birthday="birthday" in fields and body.birthday is None
    )
    if body.community_id is not None:
        homes.get().set_home(s, who.member_id, body.community_id, now)
    return me_view(s, who)


@router.post("/merchants", status_code=201, response_model=MerchantOut, responses=PROBLEMS)
def create_merchant(body: MerchantCreate, s: DB, who: Who, now: Now) -> MerchantOut:
    merchant, owner = service.create_merchant(s, who, body.name, body.owner_phone, now)
    return MerchantOut(id=merchant.id, name=merchant.name, status=merchant.status, created_at=merchant.created_at, owner_member_id=owner.id, role="owner")


@router.get("/merchants", response_model=list[MerchantOut], responses=PROBLEMS)
def my_merchants(s: DB, who: Who) -> list[MerchantOut]:
    return [MerchantOut(id=m.id, name=m.name, status=m.status, created_at=m.created_at, role=role) for m, role in service.list_merchants(s, who)]


@router.get("/merchants/{mid}", response_model=MerchantOut, responses=PROBLEMS)
def get_merchant(mid: Id, s: DB, who: Who) -> MerchantOut:
    m = service.get_merchant(s, who, mid)
    return MerchantOut(id=m.id, name=m.name, status=m.status, created_at=m.created_at, role="admin" if who.is_admin else service.staff_role(s, who.member_id, mid))


def _staff_out(st, m) -> StaffOut:
    return StaffOut(id=st.id, merchant_id=st.merchant_id, member_id=m.id, phone_masked=rules.mask_phone(m.phone), nickname=m.nickname, role=st.role, created_at=st.created_at)


@router.post("/merchants/{mid}/staff", status_code=201, response_model=StaffOut, responses=PROBLEMS)
def add_staff(mid: Id, body: StaffCreate, s: DB, who: Who, now: Now) -> StaffOut:
    st, m = service.add_staff(s, who, mid, body.phone, body.role, now)
    return _staff_out(st, m)


@router.get("/merchants/{mid}/staff", response_model=list[StaffOut], responses=PROBLEMS)
def list_staff(mid: Id, s: DB, who: Who) -> list[StaffOut]:
    return [_staff_out(st, m) for st, m in service.list_staff(s, who, mid)]


@router.patch("/merchants/{mid}/staff/{staff_id}", response_model=StaffOut, responses=PROBLEMS)
def change_staff(mid: Id, staff_id: Id, body: StaffPatch, s: DB, who: Who) -> StaffOut:
    st = service.change_staff_role(s, who, mid, staff_id, body.role)
    return _staff_out(st, service.get_member(s, st.member_id))


@router.delete("/merchants/{mid}/staff/{staff_id}", status_code=204, responses=PROBLEMS)
def remove_staff(mid: Id, staff_id: Id, s: DB, who: Who) -> Response:
    service.remove_staff(s, who, mid, staff_id)
    return Response(status_code=204)
