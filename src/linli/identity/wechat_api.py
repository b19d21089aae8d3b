"""WeChat login (``POST /auth/wechat``) and the WeChat apps it goes through."""

from __future__ import annotations

from fastapi import Request

from linli.identity import wechat
from linli.identity.ports import wechat as wechat_client
from linli.identity.schemas import LoginResult, WechatAppIn, WechatAppOut, WechatKind, WechatLoginRequest
from linli.schema import Id
from linli.web.deps import DB, Ctx, MaybeWho, Now, Who, client_ip
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["identity"])
UPSTREAM = {**PROBLEMS, 403: {"description": "Problem"}, 502: {"description": "Problem"}, 503: {"description": "Problem"}}


@router.post("/auth/wechat", response_model=LoginResult, responses=UPSTREAM)
def wechat_login(body: WechatLoginRequest, request: Request, s: DB, ctx: Ctx, now: Now, who: MaybeWho) -> LoginResult:
    """Log in with a WeChat code, as the member the openid (else the unionid, else the logged-in
    caller, else ``phone_code``'s phone) identifies; 409 ``identity.phone_required`` when none
    does — nothing is written, send the phone code with a new ``wx.login`` code."""
    member, token, created = wechat.login(
        s, ctx.settings, ctx.limiter, wechat_client.get(), kind=body.app, code=body.code, ip=client_ip(request), now=now,
        merchant_id=body.merchant_id, phone_code=body.phone_code, invite_code=body.invite_code, caller_id=who.member_id if who else None,
    )
    return LoginResult(access_token=token, member_id=member.id, created=created)


@router.get("/platform/wechat-apps/{kind}", response_model=WechatAppOut, responses=UPSTREAM)
def get_platform_app(kind: WechatKind, s: DB, who: Who) -> WechatAppOut:
    return WechatAppOut.model_validate(wechat.require_app(s, who, kind, None))


@router.put("/platform/wechat-apps/{kind}", response_model=WechatAppOut, responses=UPSTREAM)
def set_platform_app(kind: WechatKind, body: WechatAppIn, s: DB, who: Who, now: Now) -> WechatAppOut:
    return WechatAppOut.model_validate(wechat.set_app(s, who, kind, None, body.appid, body.secret, now))


@router.get("/merchants/{mid}/wechat-apps/{kind}", response_model=WechatAppOut, responses=UPSTREAM)
def get_merchant_app(mid: Id, kind: WechatKind, s: DB, who: Who) -> WechatAppOut:
    return WechatAppOut.model_validate(wechat.require_app(s, who, kind, mid))


@router.put("/merchants/{mid}/wechat-apps/{kind}", response_model=WechatAppOut, responses=UPSTREAM)
def set_merchant_app(mid: Id, kind: WechatKind, body: WechatAppIn, s: DB, who: Who, now: Now) -> WechatAppOut:
    return WechatAppOut.model_validate(wechat.set_app(s, who, kind, mid, body.appid, body.secret, now))
