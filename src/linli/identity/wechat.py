"""WeChat login, and the WeChat apps members log in through.

A login code — from ``wx.login`` in a mini program, or from the official account's web
authorisation — names an openid in one app. The member it logs in: the one that openid is
bound to; else the one its unionid is bound to in another app; else the caller, when they
are logged in already (by phone); else the one the phone number behind the mini program's
phone-number code identifies (created if new). Otherwise ``409 identity.phone_required``,
with nothing written: the client asks for the phone and tries again with a new code. A new
openid is bound in the login's own transaction. An openid, once bound, is never bound to
another member, and a member has one openid per app.

WeChat is never called inside a database transaction: the app's keys (and whether the
openid is known) are read, that read transaction ended, then WeChat asked — so neither
SQLite's write lock nor a PostgreSQL connection waits on the network — and the writes come
last, in one transaction that looks again at what it read.

Which app: the merchant's app of that kind when a merchant is named and has one, else the
platform's (``merchant_id`` NULL). Setting an app is the platform admin's (platform apps) or
the platform admin's (a shop's owner sees its apps, masked); the AppSecret is sealed by
``linli.vault`` and only its mask shown.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli import vault
from linli.config import Settings
from linli.errors import Conflict, Forbidden, Invalid, NotFound
from linli.identity import rules
from linli.identity.models import Member, WechatApp, WechatIdentity
from linli.identity.rules import Permission
from linli.identity.service import Principal, arrive_with_phone, get_member, logged_in, require_admin, require_permission, require_phone
from linli.identity.wechat_client import AppKeys, Phone, WechatClient, WechatUser
from linli.security import RateLimiter

MINI_PROGRAM, OFFICIAL_ACCOUNT = rules.WECHAT_KINDS


class PhoneRequired(Conflict):
    """Nobody is bound to this WeChat user yet: a phone must say who they are. Carries the
    app and the user for the H5 pages (which then ask for the phone and a one-time code)."""

    code = "identity.phone_required"

    def __init__(self, appid: str, user: WechatUser) -> None:
        super().__init__(detail="This WeChat account is not linked to a member yet: send the phone number (phone_code) with a new login code.")
        self.appid, self.user = appid, user


def _kind(kind: str) -> str:
    if kind not in rules.WECHAT_KINDS:
        raise Invalid("identity.wechat_kind_invalid", f"The app is one of: {', '.join(rules.WECHAT_KINDS)}.")
    return kind


def _app(s: Session, kind: str, merchant_id: int | None) -> WechatApp | None:
    return s.scalars(select(WechatApp).where(WechatApp.kind == kind, WechatApp.merchant_id.is_(None) if merchant_id is None else WechatApp.merchant_id == merchant_id)).first()


def configured(s: Session, kind: str, merchant_id: int | None = None) -> bool:
    """Whether members can log in through an app of ``kind`` here."""
    return (merchant_id is not None and _app(s, kind, merchant_id) is not None) or _app(s, kind, None) is not None


def app_keys(s: Session, kind: str, merchant_id: int | None) -> AppKeys:
    """The keys of the app a login goes through (the merchant's, else the platform's)."""
    app = (_app(s, kind, merchant_id) if merchant_id is not None else None) or _app(s, kind, None)
    if app is None:
        raise Invalid("identity.wechat_not_configured", f"No WeChat {kind.replace('_', ' ')} is configured for logging in here.")
    return AppKeys(app.appid, vault.open_sealed(app.secret_sealed))


def _end_read(s: Session) -> None:
    """End the (read-only) transaction before calling WeChat: nothing is written before."""
    s.rollback()


def _bound_member_id(s: Session, appid: str, user: WechatUser) -> int | None:
    found = s.scalars(select(WechatIdentity.member_id).where(WechatIdentity.appid == appid, WechatIdentity.openid == user.openid)).first()
    if found is None and user.unionid:
        found = s.scalars(select(WechatIdentity.member_id).where(WechatIdentity.unionid == user.unionid).order_by(WechatIdentity.id).limit(1)).first()
    return found


def _mainland(phone: Phone) -> str:
    if phone.country_code not in ("", "86"):
        raise Invalid("identity.phone_invalid", "Enter an 11-digit mainland China mobile number.")
    return require_phone(phone.number)


def bind(s: Session, member_id: int, appid: str, user: WechatUser, now: datetime) -> None:
    """Bind ``user``'s openid in ``appid`` to the member (or note another login of theirs).
    Refused when the openid is another member's, or the member has another openid there."""
    ident = s.scalars(select(WechatIdentity).where(WechatIdentity.appid == appid, WechatIdentity.openid == user.openid)).first()
    if ident is not None and ident.member_id != member_id:
        raise Conflict("identity.wechat_openid_taken", "This WeChat account is linked to another member.")
    if ident is not None:
        ident.last_login_at = now
        ident.unionid = ident.unionid or user.unionid
        return
    if s.scalars(select(WechatIdentity.id).where(WechatIdentity.member_id == member_id, WechatIdentity.appid == appid)).first():
        raise Conflict("identity.wechat_member_bound", "This member is linked to another WeChat account in this app.")
    try:
        with s.begin_nested():
            s.add(WechatIdentity(member_id=member_id, appid=appid, openid=user.openid, unionid=user.unionid, created_at=now, last_login_at=now))
    except IntegrityError:  # a concurrent login bound it first
        raise Conflict("identity.wechat_openid_taken", "This WeChat account is linked to another member.") from None


def login(
    s: Session, settings: Settings, limiter: RateLimiter, client: WechatClient, *, kind: str, code: str, ip: str, now: datetime,
    merchant_id: int | None = None, phone_code: str | None = None, invite_code: str | None = None, caller_id: int | None = None,
) -> tuple[Member, str, bool]:
    """Log in with a WeChat code; returns (member, access token, created) as the OTP login
    does. ``caller_id``: the member already logged in (by phone) on this client."""
    _kind(kind)
    if phone_code and kind != MINI_PROGRAM:
        raise Invalid("identity.phone_code_unsupported", "Only a mini program gives a phone-number code.")
    limiter.hit("login_ip", ip, code="auth.login_rate_limited")
    keys = app_keys(s, kind, merchant_id)
    _end_read(s)
    user = client.code2session(keys, code) if kind == MINI_PROGRAM else client.web_user(keys, code)
    if user.snapshot:
        raise Forbidden("identity.wechat_snapshot_user", "Open the page in WeChat itself (not its preview) to log in.")
    phone = None
    if _bound_member_id(s, keys.appid, user) is None and caller_id is None:
        if not phone_code:
            raise PhoneRequired(keys.appid, user)
        _end_read(s)
        phone = _mainland(client.phone_number(keys, phone_code))
    # The writes, looking again: a concurrent login may have bound this user meanwhile.
    member_id = _bound_member_id(s, keys.appid, user) or caller_id
    member, created = (get_member(s, member_id), False) if member_id else arrive_with_phone(s, phone, now, invite_code)
    bind(s, member.id, keys.appid, user, now)
    return member, logged_in(s, settings, member, now, created=created, invite_code=invite_code), created


# --- configuring the apps ---------------------------------------------------------------------


def _authorise(s: Session, who: Principal, merchant_id: int | None) -> None:
    if merchant_id is None:
        require_admin(who)
    else:
        require_permission(s, who, merchant_id, Permission.manage_credentials)


def get_app(s: Session, who: Principal, kind: str, merchant_id: int | None) -> WechatApp | None:
    """The platform's (``merchant_id`` None) or a merchant's app of ``kind``, if set."""
    _authorise(s, who, merchant_id)
    return _app(s, _kind(kind), merchant_id)


def require_app(s: Session, who: Principal, kind: str, merchant_id: int | None) -> WechatApp:
    app = get_app(s, who, kind, merchant_id)
    if app is None:
        raise NotFound("identity.wechat_app_not_found", f"No WeChat {kind.replace('_', ' ')} is set here yet.")
    return app


def set_app(s: Session, who: Principal, kind: str, merchant_id: int | None, appid: str, secret: str | None, now: datetime) -> WechatApp:
    """Set the app's AppID and AppSecret (sealed). An empty secret keeps the current one,
    for the same AppID only."""
    app = get_app(s, who, kind, merchant_id)
    # A shop's own app is entered by the platform, as a WeChat 第三方平台 takes a shop's
    # authorisation: with the AppSecret in hand, a shop could redeem its visitors' login
    # codes itself and hold their Linli sessions, which reach every shop they buy from.
    require_admin(who)
    appid, secret = appid.strip(), (secret or "").strip()
    if not rules.valid_appid(appid):
        raise Invalid("identity.wechat_appid_invalid", "An AppID is wx followed by 16 letters or digits.", field="appid")
    if secret and not rules.valid_appsecret(secret):
        raise Invalid("identity.wechat_secret_invalid", "An AppSecret is 32 letters or digits.", field="secret")
    if not secret and (app is None or app.appid != appid):
        raise Invalid("identity.wechat_secret_required", "Enter the AppSecret of this AppID.", field="secret")
    if s.scalars(select(WechatApp.id).where(WechatApp.appid == appid, WechatApp.id != (app.id if app else 0))).first():
        raise Conflict("identity.wechat_appid_taken", "This AppID is already set elsewhere.")
    try:
        with s.begin_nested():
            if app is None:
                app = WechatApp(merchant_id=merchant_id, kind=kind, created_at=now)
                s.add(app)
            app.appid, app.updated_at = appid, now
            if secret:
                app.secret_sealed, app.secret_mask = vault.seal(secret), vault.mask(secret)
    except IntegrityError:  # set at the same moment by another request
        raise Conflict("identity.wechat_appid_taken", "This AppID is already set elsewhere.") from None
    return app
