"""Identity pages: one-time-code login (member H5 and console), the member's profile,
the console's merchant list and the merchant page's staff (the page itself, with the sections
domains add, is ``linli.web.console``)."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from linli.errors import DomainError, Invalid, NotFound
from linli.i18n import N_
from linli.identity import service, wechat
from linli.identity.ports import homes
from linli.identity.service import Principal
from linli.identity.wechat_pages import apps_section, bind_pending, drop_pending, in_wechat, pending_user, save_app
from linli.schema import Id
from linli.web.console import ROLE_NAMES, render_merchant
from linli.web.deps import DB, Now, client_ip
from linli.web.deps import router as deps_router
from linli.web.pages import (
    INVITE_COOKIE,
    ConsoleWho,
    Form,
    MemberWho,
    Page,
    PageDep,
    attempt,
    error_messages,
    safe_next,
    text,
)

router = deps_router(include_in_schema=False)

error_messages(
    {
        "auth.code_invalid": N_("The code is wrong or has expired; request a new one if needed."),
        "auth.phone_locked": N_("Too many wrong codes: this phone is locked for a while. Try again later."),
        "auth.otp_rate_limited": N_("Too many codes requested for this phone; please wait and try again."),
        "auth.login_rate_limited": N_("Too many login attempts; please try again later."),
        "auth.role_forbidden": N_("Your role may not do this."),
        "auth.admin_only": N_("Only platform administrators may do this."),
        "identity.phone_invalid": N_("Enter an 11-digit mainland China mobile number."),
        "identity.nickname_invalid": N_("A nickname has 1 to 20 characters."),
        "identity.birthday_invalid": N_("The birthday must be a past date after 1900."),
        "merchant.name_invalid": N_("A merchant name has 1 to 40 characters."),
        "merchant.name_taken": N_("A merchant with this name exists."),
        "merchant.not_found": N_("No such merchant."),
        "member.not_found": N_("No such member."),
        "staff.role_invalid": N_("Choose a valid role."),
        "staff.exists": N_("This person is already staff of this merchant."),
        "staff.last_owner": N_("A merchant keeps at least one owner."),
    }
)

AREAS = {"m": ("base_mobile.html", "/m/me"), "console": ("base_console.html", "/console/")}
# The invite code a visitor arrived with (set by the invite landing /i/{code}, referral.pages):
# the member login passes it on, so a new member is bound to the inviter, then drops it.


# --- login -----------------------------------------------------------------------------------


def _login_page(page: Page, area: str, *, step: str = "phone", **context) -> Response:
    layout, home = AREAS[area]
    nxt = safe_next(page.request.query_params.get("next") or context.pop("next", None), home)
    return page.render("identity/login.html", layout=layout, area=area, step=step, next=nxt, **context)


def _login_routes(area: str) -> None:
    base = f"/{area}/login"

    @router.get(base, name=f"{area}_login")
    def login_form(page: PageDep, s: DB, now: Now) -> Response:
        if page.who is not None:  # already logged in
            return page.redirect(safe_next(page.request.query_params.get("next"), AREAS[area][1]))
        if area != "m":
            return _login_page(page, area)
        # Inside WeChat, the official account logs the neighbour in without a code.
        offer = in_wechat(page.request) and wechat.configured(s, wechat.OFFICIAL_ACCOUNT)
        return _login_page(page, area, wechat_offer=offer, wechat_pending=pending_user(page.request, page.ctx.settings, now) is not None)

    @router.post(base + "/code", name=f"{area}_login_code")
    def send_code(page: PageDep, form: Form, s: DB, request: Request, now: Now) -> Response:
        ctx = page.ctx
        try:
            with attempt(s):
                phone, code, _ = service.request_otp(s, ctx.settings, ctx.limiter, text(form, "phone"), client_ip(request), now)
        except DomainError as exc:
            return _login_page(page, area, phone=text(form, "phone"), next=text(form, "next"), error=exc)
        return _login_page(page, area, step="code", phone=phone, next=text(form, "next"), debug_code=code if page.show_debug_code else None)

    @router.post(base, name=f"{area}_login_submit")
    def log_in(page: PageDep, form: Form, s: DB, request: Request, now: Now) -> Response:
        ctx, phone = page.ctx, text(form, "phone")
        invite = ((request.cookies.get(INVITE_COOKIE) or "")[:16] or None) if area == "m" else None
        # A WeChat user the official-account login did not know yet is bound by this login.
        pending = pending_user(request, ctx.settings, now) if area == "m" else None
        try:
            with attempt(s):
                member, token, _ = service.login(s, ctx.settings, ctx.limiter, phone, text(form, "code"), client_ip(request), now, invite_code=invite)
                bind_pending(s, pending, member.id, now)
        except DomainError as exc:
            response = _login_page(page, area, step="code", phone=phone, next=text(form, "next"), error=exc)
            return drop_pending(response, ctx.settings) if exc.code.startswith("identity.wechat_") else response
        page.log_in(token)
        response = page.redirect(safe_next(text(form, "next"), AREAS[area][1]))
        if invite:
            response.delete_cookie(INVITE_COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.settings.is_production)
        return drop_pending(response, ctx.settings) if pending else response


_login_routes("m")
_login_routes("console")


@router.post("/logout")
def log_out(page: PageDep, form: Form) -> Response:
    page.log_out()
    return page.redirect(safe_next(text(form, "next"), "/"))


# --- member profile (H5) -----------------------------------------------------------------------


def _community_groups(s: Session) -> list[tuple[str, list]]:
    """Communities a member may choose, grouped as "city · merchant"."""
    groups: dict[tuple[str, int], list] = {}
    names: dict[int, str | None] = {}
    for c in homes.get().choices(s):
        if c.merchant_id not in names:
            try:
                names[c.merchant_id] = service.public_merchant(s, c.merchant_id).name
            except NotFound:
                names[c.merchant_id] = None
        if names[c.merchant_id] is not None:
            groups.setdefault((c.city, c.merchant_id), []).append(c)
    return [(f"{city} · {names[mid]}", cs) for (city, mid), cs in groups.items()]


def _profile(page: Page, s: Session, who: Principal, *, values: dict | None = None, **context) -> Response:
    member = service.get_member(s, who.member_id)
    home = homes.get().home_of(s, member.id)
    if values is None:
        values = {"nickname": member.nickname, "birthday": member.birthday.isoformat() if member.birthday else "", "community_id": str(home.id) if home else ""}
    name = "identity/_profile.html" if page.is_htmx else "identity/profile.html"
    return page.render(name, member=member, home=home, values=values, groups=_community_groups(s), **context)


def _parse_birthday(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise Invalid("identity.birthday_invalid", "The birthday must be a past date after 1900.") from None


@router.get("/m/")
def member_home(page: PageDep, who: MemberWho) -> Response:
    return page.redirect("/m/me")


@router.get("/m/me")
def profile(page: PageDep, s: DB, who: MemberWho) -> Response:
    return _profile(page, s, who, saved=page.request.query_params.get("saved") == "1")


@router.post("/m/me")
def save_profile(page: PageDep, form: Form, s: DB, who: MemberWho, now: Now) -> Response:
    values = {k: text(form, k) for k in ("nickname", "birthday", "community_id")}
    try:
        with attempt(s):
            birthday = _parse_birthday(values["birthday"])
            service.update_profile(s, who.member_id, now, nickname=values["nickname"], birthday=birthday, clear_birthday=birthday is None)
            if values["community_id"]:
                cid = int(values["community_id"]) if values["community_id"].isdigit() else 0
                home = homes.get().home_of(s, who.member_id)
                if home is None or home.id != cid:
                    homes.get().set_home(s, who.member_id, cid, now)
    except DomainError as exc:
        return _profile(page, s, who, values=values, error=exc)
    if page.is_htmx:
        return _profile(page, s, who, saved=True)
    return page.redirect("/m/me?saved=1")


# --- console: merchants and staff ------------------------------------------------------------------


def _console_home(page: Page, s: Session, who: Principal, *, wechat_state: dict | None = None, status: int = 200, **context) -> Response:
    """The merchant list; for platform admins also the new-merchant form and the platform's WeChat apps."""
    apps = apps_section(page, s, None, wechat_state or {}) if who.is_admin else None
    return page.render("identity/console_home.html", status=status, merchants=service.list_merchants(s, who), roles=ROLE_NAMES, wechat_apps=apps, **context)


@router.get("/console/")
def console_home(page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return _console_home(page, s, who)


@router.post("/console/merchants")
def create_merchant(page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            merchant, _ = service.create_merchant(s, who, text(form, "name"), text(form, "owner_phone"), now)
    except DomainError as exc:
        values = {"name": text(form, "name"), "owner_phone": text(form, "owner_phone")}
        return _console_home(page, s, who, values=values, error=exc)
    return page.redirect(f"/console/merchants/{merchant.id}")


@router.post("/console/platform/wechat-apps/{kind}")
def save_platform_app(kind: str, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    failed = save_app(page, form, s, None, kind, now)
    if failed is None:
        return page.redirect("/console/?saved=wechat#wechat-apps")
    return _console_home(page, s, who, wechat_state=failed, status=failed["status"])


@router.get("/console/merchants/{mid}")
def merchant_page(mid: Id, page: PageDep, s: DB, who: ConsoleWho) -> Response:
    return render_merchant(page, s, who, mid)


@router.post("/console/merchants/{mid}/staff")
def add_staff(mid: Id, page: PageDep, form: Form, s: DB, who: ConsoleWho, now: Now) -> Response:
    try:
        with attempt(s):
            service.add_staff(s, who, mid, text(form, "phone"), text(form, "role"), now)
    except DomainError as exc:
        state = {"staff_form": {"phone": text(form, "phone"), "role": text(form, "role")}, "staff_error": page.error_text(exc)}
        return render_merchant(page, s, who, mid, state, exc.status)
    return page.redirect(f"/console/merchants/{mid}#staff")

