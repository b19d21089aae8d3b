"""WeChat in the pages: the official account's login for the H5 pages inside WeChat, and
the console's WeChat apps (the platform's on the console home, a merchant's on its page).

H5 login: ``GET /m/auth/wechat?next=…[&merchant_id=…]`` sends the WeChat browser to the web
authorisation (snsapi_base: silent) with a ``state`` bound to this browser's CSRF cookie, the
merchant and the page to return to, valid for ten minutes. WeChat comes back to
``GET /m/auth/wechat/callback?code&state``: a known openid (or a member already logged in
here) is logged in and sent on; a new one is remembered in a signed cookie for ten minutes
while the one-time-code form proves the phone, and ``/m/login`` binds it with that login.
A forged, foreign or expired state is an error page (``identity.wechat_state_invalid``).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.config import Settings
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.identity import rules, wechat
from linli.identity.ports import wechat as wechat_client
from linli.identity.wechat import OFFICIAL_ACCOUNT, PhoneRequired
from linli.identity.wechat_client import WechatUser
from linli.schema import Id
from linli.security import oauth_state, oauth_state_valid, read_claims, sign_claims
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, render_merchant
from linli.web.deps import DB, Now, WriteDB, client_ip
from linli.web.deps import router as deps_router
from linli.web.pages import INVITE_COOKIE, ConsoleWho, Form, Page, PageDep, attempt, error_messages, safe_next, text

router = deps_router(include_in_schema=False)

STATE_TTL = PENDING_TTL = 600
PENDING_COOKIE = "linli_wx_pending"  # a WeChat user waiting for the phone login to bind them
KIND_NAMES = {"mini_program": N_("Mini program"), "official_account": N_("Official account")}

error_messages(
    {
        "identity.wechat_state_invalid": N_("This WeChat login has expired or did not start here. Open the page again."),
        "identity.wechat_code_invalid": N_("WeChat did not confirm who you are; please try again."),
        "identity.wechat_unavailable": N_("WeChat is busy right now; please try again in a moment."),
        "identity.wechat_refused": N_("WeChat refused the login; the shop's WeChat settings may need checking."),
        "identity.wechat_not_configured": N_("WeChat login is not set up here yet; log in with your mobile number."),
        "identity.wechat_snapshot_user": N_("Open the page in WeChat itself (not its preview) to log in."),
        "identity.wechat_openid_taken": N_("This WeChat account is linked to another member."),
        "identity.wechat_member_bound": N_("This number is linked to another WeChat account already."),
        "identity.wechat_appid_invalid": N_("An AppID is wx followed by 16 letters or digits."),
        "identity.wechat_secret_invalid": N_("An AppSecret is 32 letters or digits."),
        "identity.wechat_secret_required": N_("Enter the AppSecret of this AppID."),
        "identity.wechat_appid_taken": N_("This AppID is already set elsewhere."),
    }
)


class StateInvalid(DomainError):
    status = 400
    code = "identity.wechat_state_invalid"
    title = "WeChat login state invalid"


def in_wechat(request: Request) -> bool:
    return "micromessenger" in request.headers.get("user-agent", "").lower()


def _merchant_id(request: Request) -> int | None:
    raw = request.query_params.get("merchant_id", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 else None


def _bound(page: Page, merchant_id: int | None, nxt: str) -> tuple[str, ...]:
    return (page.csrf_token, str(merchant_id or ""), nxt)


@router.get("/m/auth/wechat")
def start(page: PageDep, s: DB, now: Now) -> Response:
    """Off to WeChat's web authorisation for this browser."""
    request = page.request
    nxt, merchant_id = safe_next(request.query_params.get("next"), "/m/me"), _merchant_id(request)
    keys = wechat.app_keys(s, OFFICIAL_ACCOUNT, merchant_id)
    state = oauth_state(page.ctx.settings.secret_key, int(now.timestamp()) + STATE_TTL, *_bound(page, merchant_id, nxt))
    # The address WeChat sends the browser back to: the deployment's public URL (the host
    # registered as 网页授权域名), else the one the request came to (a proxy may change it).
    origin = page.ctx.settings.public_url or str(request.base_url)
    back = origin.rstrip("/") + "/m/auth/wechat/callback?" + urlencode({"next": nxt, **({"merchant_id": merchant_id} if merchant_id else {})})
    return page.redirect(wechat_client.get().authorize_url(keys.appid, back, state))


@router.get("/m/auth/wechat/callback")
def callback(page: PageDep, s: WriteDB, now: Now) -> Response:
    request, settings = page.request, page.ctx.settings
    nxt, merchant_id = safe_next(request.query_params.get("next"), "/m/me"), _merchant_id(request)
    if not oauth_state_valid(settings.secret_key, request.query_params.get("state"), now, *_bound(page, merchant_id, nxt)):
        raise StateInvalid(detail="This WeChat login has expired or did not start in this browser.")
    code = (request.query_params.get("code") or "")[:128]
    if not code:
        raise Invalid("identity.wechat_code_invalid", "WeChat came back without a code.")
    invite = (request.cookies.get(INVITE_COOKIE) or "")[:16] or None
    try:
        _, token, _ = wechat.login(s, settings, page.ctx.limiter, wechat_client.get(), kind=OFFICIAL_ACCOUNT, code=code, ip=client_ip(request), now=now,
                                   merchant_id=merchant_id, invite_code=invite, caller_id=page.who.member_id if page.who else None)
    except PhoneRequired as exc:
        response = page.redirect("/m/login?" + urlencode({"next": nxt}))
        pending = sign_claims(settings.secret_key, "wx_pending", {"app": exc.appid, "oid": exc.user.openid, "uid": exc.user.unionid}, PENDING_TTL, now)
        response.set_cookie(PENDING_COOKIE, pending, max_age=PENDING_TTL, httponly=True, samesite="lax", secure=settings.is_production, path="/m")
        return response
    page.log_in(token)
    response = page.redirect(nxt)
    if invite:
        response.delete_cookie(INVITE_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.is_production)
    return response


def pending_user(request: Request, settings: Settings, now: datetime) -> tuple[str, WechatUser] | None:
    """The WeChat user waiting to be bound by this browser's phone login, if any."""
    claims = read_claims(settings.secret_key, "wx_pending", request.cookies.get(PENDING_COOKIE), now)
    if claims is None or not isinstance(claims.get("app"), str) or not isinstance(claims.get("oid"), str):
        return None
    return claims["app"], WechatUser(claims["oid"], claims.get("uid") if isinstance(claims.get("uid"), str) else None)


def bind_pending(s: Session, pending: tuple[str, WechatUser] | None, member_id: int, now: datetime) -> None:
    if pending is not None:
        wechat.bind(s, member_id, pending[0], pending[1], now)


def drop_pending(response: Response, settings: Settings) -> Response:
    response.delete_cookie(PENDING_COOKIE, path="/m", httponly=True, samesite="lax", secure=settings.is_production)
    return response


# --- console: the WeChat apps -------------------------------------------------------------------


def _apps(s: Session, page: Page, merchant_id: int | None) -> list[tuple[str, object]]:
    return [(kind, wechat.get_app(s, page.who, kind, merchant_id)) for kind in rules.WECHAT_KINDS]


def apps_section(page: Page, s: Session, merchant_id: int | None, state: dict) -> Markup:
    action = f"/console/merchants/{merchant_id}/wechat-apps" if merchant_id else "/console/platform/wechat-apps"
    return Markup(templating.render("identity/_wechat_apps.html", {"page": page, "translations": page.translations, "apps": _apps(s, page, merchant_id),
                                                                  "names": KIND_NAMES, "action": action, "state": state}))


@merchant_section(order=60)
def merchant_apps_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    if not view.can(rules.Permission.manage_credentials):
        return Markup("")
    return apps_section(page, s, view.merchant.id, state)


def save_app(page: Page, form, s: Session, merchant_id: int | None, kind: str, now: datetime) -> dict | None:
    """Set the app from the form; the failed form's state, or None when saved."""
    try:
        with attempt(s):
            wechat.set_app(s, page.who, kind, merchant_id, text(form, "appid"), text(form, "secret"), now)
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        return {"wechat_kind": kind, "wechat_appid": text(form, "appid"), "wechat_error": page.error_text(exc), "status": exc.status}
    return None


@router.post("/console/merchants/{mid}/wechat-apps/{kind}")
def save_merchant_app(mid: Id, kind: str, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    failed = save_app(page, form, s, mid, kind, now)
    if failed is None:
        return page.redirect(f"/console/merchants/{mid}?saved=wechat#wechat-apps")
    return render_merchant(page, s, who, mid, failed, failed["status"])
