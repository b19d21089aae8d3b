"""Identity use cases: one-time-code login, profiles, merchants, staff and permissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, extract, func, or_, select, update
from sqlalchemy.orm import Session

from linli import edge, events
from linli.channels import outbox as sms
from linli.config import Settings
from linli.errors import Conflict, DomainError, Forbidden, Invalid, Locked, NotFound
from linli.identity import rules
from linli.identity.events import MemberArrivedWithCode, MemberJoined, MemberLoggedIn, MerchantCreated, StaffAdded
from linli.identity.models import Member, Merchant, OtpCode, PhoneGuard, Staff, WechatIdentity
from linli.identity.rules import GuardState, LockPolicy, Permission, Role
from linli.security import RateLimiter, hash_otp, issue_token, new_otp_code


@dataclass(frozen=True)
class Principal:
    member_id: int
    phone: str
    is_admin: bool


class WrongCode(DomainError):
    status = 401
    code = "auth.code_invalid"
    title = "Wrong or expired code"
    keep_changes = True  # the failure count must survive the error


def require_phone(raw: str) -> str:
    phone = rules.normalise_phone(raw)
    if phone is None:
        raise Invalid("identity.phone_invalid", "Enter an 11-digit mainland China mobile number.")
    return phone


def _guard(s: Session, phone: str) -> PhoneGuard | None:
    return s.get(PhoneGuard, phone)


def _guard_state(g: PhoneGuard | None) -> GuardState | None:
    return GuardState(g.failures, g.window_started_at, g.locked_until) if g else None


def _refuse_if_locked(s: Session, phone: str, now: datetime) -> None:
    state = _guard_state(_guard(s, phone))
    if rules.is_locked(state, now):
        minutes = max(1, int((state.locked_until - now).total_seconds() // 60) + 1)
        raise Locked("auth.phone_locked", f"Too many wrong codes: this phone is locked for about {minutes} more minutes.", locked_until=state.locked_until.isoformat())


def request_otp(s: Session, settings: Settings, limiter: RateLimiter, raw_phone: str, ip: str, now: datetime) -> tuple[str, str, datetime]:
    """Create a one-time code for a phone and queue its SMS in the same transaction (the
    sender delivers it once committed). Returns (phone, code, expires_at); outside
    production the caller also shows the code."""
    phone = require_phone(raw_phone)
    _refuse_if_locked(s, phone, now)
    limiter.hit("otp_ip", ip, code="auth.otp_rate_limited")
    limiter.hit("otp_phone_burst", phone, code="auth.otp_rate_limited")
    limiter.hit("otp_phone", phone, code="auth.otp_rate_limited")
    code = new_otp_code()
    expires = now + timedelta(seconds=settings.otp_ttl_seconds)
    # A new code replaces the older ones.
    s.execute(update(OtpCode).where(OtpCode.phone == phone, OtpCode.consumed_at.is_(None)).values(consumed_at=now))
    s.add(OtpCode(phone=phone, code_hash=hash_otp(settings.secret_key, phone, code), created_at=now, expires_at=expires))
    sms.enqueue(s, phone, "otp", {"code": code}, now=now, expires_at=expires, secret=True, supersede=True)
    return phone, code, expires


def lock_policy(limiter: RateLimiter) -> LockPolicy:
    """The wrong-code lockout from the ``login_fail`` limit (``LINLI_RATE_LIMITS``): that
    many wrong codes within the window lock the phone for one window."""
    rate = limiter.limits.get("login_fail")
    if rate is None:
        return LockPolicy()
    window = timedelta(seconds=rate.seconds)
    return LockPolicy(max_failures=rate.count, window=window, lock_for=window)


def _record_failure(s: Session, phone: str, now: datetime, policy: LockPolicy) -> None:
    g = _guard(s, phone)
    new = rules.after_failure(_guard_state(g), now, policy)
    if g is None:
        s.add(PhoneGuard(phone=phone, failures=new.failures, window_started_at=new.window_started_at, locked_until=new.locked_until))
    else:
        g.failures, g.window_started_at, g.locked_until = new.failures, new.window_started_at, new.locked_until
    s.flush()


def login(
    s: Session, settings: Settings, limiter: RateLimiter, raw_phone: str, code: str, ip: str, now: datetime, invite_code: str | None = None
) -> tuple[Member, str, bool]:
    """Check the code and return (member, access token, created). A new phone becomes a
    member; ``member.joined`` carries the invite code for the referral domain to bind."""
    phone = require_phone(raw_phone)
    limiter.hit("login_ip", ip, code="auth.login_rate_limited")
    _refuse_if_locked(s, phone, now)
    otp = s.scalars(
        select(OtpCode).where(OtpCode.phone == phone, OtpCode.consumed_at.is_(None), OtpCode.expires_at > now).order_by(OtpCode.id.desc()).limit(1)
    ).first()
    if otp is None or otp.code_hash != hash_otp(settings.secret_key, phone, str(code).strip()):
        _record_failure(s, phone, now, lock_policy(limiter))
        raise WrongCode(detail="The code is wrong or has expired. Request a new code if needed.")
    # Consume by compare-and-set so two logins racing with one code cannot both pass.
    if s.execute(update(OtpCode).where(OtpCode.id == otp.id, OtpCode.consumed_at.is_(None)).values(consumed_at=now)).rowcount != 1:
        raise WrongCode(detail="This code has already been used.")
    s.execute(update(PhoneGuard).where(PhoneGuard.phone == phone).values(failures=0, locked_until=None))
    member, created = arrive_with_phone(s, phone, now, invite_code)
    return member, logged_in(s, settings, member, now, created=created, invite_code=invite_code), created


def arrive_with_phone(s: Session, phone: str, now: datetime, invite_code: str | None) -> tuple[Member, bool]:
    """The member a (proven) phone identifies, created if new — ``member.joined`` carries
    the invite code for the referral domain to bind. Returns (member, created)."""
    member = s.scalars(select(Member).where(Member.phone == phone)).first()
    if member is not None:
        return member, False
    member = Member(phone=phone, nickname=f"邻居{phone[-4:]}", created_at=now, updated_at=now)
    s.add(member)
    s.flush()
    events.emit(s, MemberJoined(member_id=member.id, invite_code=invite_code, at=now, **edge.stamp()), at=now)
    return member, True


def logged_in(s: Session, settings: Settings, member: Member, now: datetime, *, created: bool, invite_code: str | None) -> str:
    """Record a login (a known member arriving with an invite code is told to referral) and
    return its access token — the same for every way of logging in."""
    if invite_code and not created:
        events.emit(s, MemberArrivedWithCode(member_id=member.id, invite_code=invite_code, at=now, **edge.stamp()), at=now)
    events.emit(s, MemberLoggedIn(member_id=member.id, at=now, **edge.stamp()), at=now)
    return issue_token(settings.secret_key, member.id, settings.token_ttl_seconds, now=now, phone=member.phone)


def principal_from_token(settings: Settings, member_id: int, phone: str) -> Principal:
    """The caller as the (signed) token says; platform admins are known by phone."""
    return Principal(member_id, phone, bool(phone) and phone in settings.admin_phones)


def get_member(s: Session, member_id: int) -> Member:
    m = s.get(Member, member_id)
    if m is None:
        raise NotFound("member.not_found", "No such member.")
    return m


def member_by_phone(s: Session, raw_phone: str) -> Member:
    """The member with this mobile number (refusing a malformed or unknown one: nobody is
    created by looking them up)."""
    m = s.scalars(select(Member).where(Member.phone == require_phone(raw_phone))).first()
    if m is None:
        raise NotFound("member.not_found", "No member has this mobile number.", phone=raw_phone)
    return m


def get_or_create_member(s: Session, raw_phone: str, now: datetime, nickname: str | None = None) -> Member:
    phone = require_phone(raw_phone)
    m = s.scalars(select(Member).where(Member.phone == phone)).first()
    if m is None:
        m = Member(phone=phone, nickname=nickname or f"邻居{phone[-4:]}", created_at=now, updated_at=now)
        s.add(m)
        s.flush()
        events.emit(s, MemberJoined(member_id=m.id, invite_code=None, at=now), at=now)
    return m


def clean_nickname(raw: str) -> str:
    nick = " ".join(raw.split())
    if not 1 <= len(nick) <= 20 or any(ord(c) < 32 for c in nick):
        raise Invalid("identity.nickname_invalid", "A nickname has 1 to 20 characters.")
    return nick


def update_profile(s: Session, member_id: int, now: datetime, *, nickname: str | None = None, birthday: date | None = None, clear_birthday: bool = False) -> Member:
    m = get_member(s, member_id)
    if nickname is not None:
        m.nickname = clean_nickname(nickname)
    if clear_birthday:
        m.birthday = None
    elif birthday is not None:
        if birthday > now.date() or birthday.year < 1900:
            raise Invalid("identity.birthday_invalid", "The birthday must be a past date after 1900.")
        m.birthday = birthday
    m.updated_at = now
    s.flush()
    return m


# --- merchants and staff -----------------------------------------------------------------


def _merchant_or_404(s: Session, merchant_id: int) -> Merchant:
    m = s.get(Merchant, merchant_id)
    if m is None:
        raise NotFound("merchant.not_found", "No such merchant.")
    return m


def staff_role(s: Session, member_id: int, merchant_id: int) -> str | None:
    return s.scalars(select(Staff.role).where(Staff.merchant_id == merchant_id, Staff.member_id == member_id)).first()


def require_permission(s: Session, who: Principal, merchant_id: int, permission: Permission) -> Merchant:
    """The merchant, if ``who`` may do ``permission`` there. Someone who is not staff of
    that merchant gets 404 (its existence is not revealed); staff whose role lacks the
    permission get 403. Platform admins act with owner rights everywhere."""
    merchant = s.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("merchant.not_found", "No such merchant.")
    if who.is_admin:
        return merchant
    role = staff_role(s, who.member_id, merchant_id)
    if role is None:
        raise NotFound("merchant.not_found", "No such merchant.")
    if not rules.role_allows(role, permission):
        raise Forbidden("auth.role_forbidden", f"Your role ({role}) may not do this.", required=permission.value)
    return merchant


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("auth.admin_only", "Only platform administrators may do this.")


def create_merchant(s: Session, who: Principal, name: str, owner_phone: str, now: datetime) -> tuple[Merchant, Member]:
    require_admin(who)
    name = " ".join(name.split())
    if not 1 <= len(name) <= 40:
        raise Invalid("merchant.name_invalid", "A merchant name has 1 to 40 characters.")
    if s.scalars(select(Merchant.id).where(Merchant.name == name)).first():
        raise Conflict("merchant.name_taken", "A merchant with this name exists.")
    owner = get_or_create_member(s, owner_phone, now)
    merchant = Merchant(name=name, created_at=now)
    s.add(merchant)
    s.flush()
    s.add(Staff(merchant_id=merchant.id, member_id=owner.id, role=Role.owner.value, created_at=now))
    s.flush()
    events.emit(s, MerchantCreated(merchant_id=merchant.id, owner_member_id=owner.id), merchant_id=merchant.id, at=now)
    return merchant, owner


def get_merchant(s: Session, who: Principal, merchant_id: int) -> Merchant:
    return require_permission(s, who, merchant_id, Permission.view)


def public_merchant(s: Session, merchant_id: int) -> Merchant:
    """A merchant's public face (name) for member pages."""
    m = _merchant_or_404(s, merchant_id)
    if m.status != "active":
        raise NotFound("merchant.not_found", "No such merchant.")
    return m


def merchant_ids(s: Session) -> list[int]:
    """Every merchant's id, in order (jobs and rebuilds that go through them all)."""
    return list(s.scalars(select(Merchant.id).order_by(Merchant.id)))


def list_merchants(s: Session, who: Principal) -> list[tuple[Merchant, str]]:
    """Merchants the caller works for, with the role (admins see all, as ``admin``)."""
    if who.is_admin:
        return [(m, "admin") for m in s.scalars(select(Merchant).order_by(Merchant.id))]
    rows = s.execute(select(Merchant, Staff.role).join(Staff, Staff.merchant_id == Merchant.id).where(Staff.member_id == who.member_id).order_by(Merchant.id))
    return [(m, role) for m, role in rows]


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise Invalid("staff.role_invalid", f"Role must be one of: {', '.join(r.value for r in Role)}.") from None


def add_staff(s: Session, who: Principal, merchant_id: int, phone: str, role: str, now: datetime) -> tuple[Staff, Member]:
    require_permission(s, who, merchant_id, Permission.manage_staff)
    r = _parse_role(role)
    member = get_or_create_member(s, phone, now)
    if staff_role(s, member.id, merchant_id) is not None:
        raise Conflict("staff.exists", "This person is already staff of this merchant.")
    st = Staff(merchant_id=merchant_id, member_id=member.id, role=r.value, created_at=now)
    s.add(st)
    s.flush()
    events.emit(s, StaffAdded(merchant_id=merchant_id, member_id=member.id, role=r.value), merchant_id=merchant_id, at=now)
    return st, member


def list_staff(s: Session, who: Principal, merchant_id: int) -> list[tuple[Staff, Member]]:
    require_permission(s, who, merchant_id, Permission.view)
    rows = s.execute(select(Staff, Member).join(Member, Member.id == Staff.member_id).where(Staff.merchant_id == merchant_id).order_by(Staff.id))
    return [(st, m) for st, m in rows]


def _staff_or_404(s: Session, merchant_id: int, staff_id: int) -> Staff:
    st = s.get(Staff, staff_id)
    if st is None or st.merchant_id != merchant_id:
        raise NotFound("staff.not_found", "No such staff member.")
    return st


def _owners(s: Session, merchant_id: int) -> int:
    return s.scalar(select(func.count()).select_from(Staff).where(Staff.merchant_id == merchant_id, Staff.role == Role.owner.value)) or 0


def change_staff_role(s: Session, who: Principal, merchant_id: int, staff_id: int, role: str) -> Staff:
    require_permission(s, who, merchant_id, Permission.manage_staff)
    r = _parse_role(role)
    st = _staff_or_404(s, merchant_id, staff_id)
    if st.role == Role.owner.value and r != Role.owner and _owners(s, merchant_id) <= 1:
        raise Conflict("staff.last_owner", "A merchant keeps at least one owner.")
    st.role = r.value
    s.flush()
    return st


def remove_staff(s: Session, who: Principal, merchant_id: int, staff_id: int) -> None:
    require_permission(s, who, merchant_id, Permission.manage_staff)
    st = _staff_or_404(s, merchant_id, staff_id)
    if st.role == Role.owner.value and _owners(s, merchant_id) <= 1:
        raise Conflict("staff.last_owner", "A merchant keeps at least one owner.")
    s.delete(st)
    s.flush()


def members_by_ids(s: Session, ids: list[int]) -> dict[int, Member]:
    if not ids:
        return {}
    return {m.id: m for m in s.scalars(select(Member).where(Member.id.in_(ids)))}


def member_ids_born_on(s: Session, days: list[tuple[int, int]], among: list[int] | None = None) -> list[int]:
    """Members whose birthday is one of these (month, day), optionally only ``among`` these
    ids (the birthday job asks about the members who have a level)."""
    if not days or among == []:
        return []
    month, day = extract("month", Member.birthday), extract("day", Member.birthday)
    q = select(Member.id).where(Member.birthday.is_not(None), or_(*(and_(month == m, day == d) for m, d in days)))
    if among is not None:
        q = q.where(Member.id.in_(among))
    return list(s.scalars(q.order_by(Member.id)))


def wechat_openid(s: Session, member_id: int, appid: str) -> str | None:
    """The openid a member has in the WeChat app ``appid`` (what a JSAPI payment of that app
    pays as), or None when they never logged in through it."""
    return s.scalars(select(WechatIdentity.openid).where(WechatIdentity.member_id == member_id, WechatIdentity.appid == appid)).first()
