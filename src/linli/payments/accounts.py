"""Payment accounts: the WeChat Pay and Alipay credentials payments go through, sealed at rest.

The platform's own account (``merchant_id`` None: the WeChat Pay 服务商 / Alipay ISV
account) and each merchant's: ``direct`` with its own keys, or ``partner`` naming only the
sub-merchant (``sub_mchid`` [+ ``sub_appid``] / the Alipay ``app_auth_token``) and using the
platform account's keys. A save checks that every key parses before anything is written
(``payment.credentials_invalid`` naming the field, never echoing it); secrets are sealed
with ``linli.vault`` and shown again only as masks. ``wechatpay_client`` /
``alipay_client`` build the provider client of a merchant (None when it has no account).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import httpx
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from linli import vault
from linli.composition import Port
from linli.config import ConfigError, Settings
from linli.db import Database
from linli.errors import Conflict, DomainError, Invalid
from linli.payments.models import Payment, PaymentAccount, PaymentRefund
from linli.payments.providers import alipay, wechatpay
from linli.payments.providers import alipay_sign as alipay_keys
from linli.payments.providers import wechatpay_sign as wechat_keys

WECHATPAY, ALIPAY = "wechatpay", "alipay"
PROVIDERS = (WECHATPAY, ALIPAY)
DIRECT, PARTNER = "direct", "partner"
MODES = (DIRECT, PARTNER)
NOTIFY_PATHS = {WECHATPAY: "/api/v1/payments/wechatpay/notify", ALIPAY: "/api/v1/payments/alipay/notify"}

PUBLIC_FIELDS = ("mchid", "appid", "serial_no", "public_key_id", "sub_mchid", "sub_appid", "app_id", "public_key")
SECRET_FIELDS = ("private_key", "apiv3_key", "app_auth_token")


@dataclass(frozen=True)
class Spec:
    required: tuple[str, ...]  # public fields
    optional: tuple[str, ...]
    secrets: tuple[str, ...]  # all required (kept from the stored account when left empty)


SPECS: dict[tuple[str, str], Spec] = {
    (WECHATPAY, DIRECT): Spec(("mchid", "appid", "serial_no", "public_key_id", "public_key"), (), ("private_key", "apiv3_key")),
    (WECHATPAY, PARTNER): Spec(("sub_mchid",), ("sub_appid",), ()),
    (ALIPAY, DIRECT): Spec(("app_id", "public_key"), (), ("private_key",)),
    (ALIPAY, PARTNER): Spec((), (), ("app_auth_token",)),
}

_FORMATS = {
    "mchid": re.compile(r"[0-9]{6,32}"),
    "sub_mchid": re.compile(r"[0-9]{6,32}"),
    "appid": re.compile(r"wx[0-9A-Za-z]{16}"),
    "sub_appid": re.compile(r"wx[0-9A-Za-z]{16}"),
    "serial_no": re.compile(r"[0-9A-Fa-f]{8,64}"),
    "public_key_id": re.compile(r"PUB_KEY_ID_[0-9A-Za-z]{1,53}"),
    "app_id": re.compile(r"[0-9]{10,32}"),
    "app_auth_token": re.compile(r"[0-9A-Za-z._\-]{8,128}"),
}


class AccountUnusable(DomainError):
    """A stored account that cannot be used (its secrets do not open or parse any more)."""

    status = 503
    code = "payment.account_unusable"
    title = "Payment account unusable"


def _invalid(name: str, why: str) -> Invalid:
    return Invalid("payment.credentials_invalid", f"{name}: {why}", field=name)


# --- what the process needs to reach the providers (filled by payments/domain.py) ------------


@dataclass(frozen=True)
class Rails:
    public_url: str = ""
    wechatpay_base_url: str = wechatpay.BASE_URL
    alipay_gateway_url: str = alipay.GATEWAY

    def notify_url(self, provider: str) -> str:
        return (self.public_url or "http://localhost").rstrip("/") + NOTIFY_PATHS[provider]


rails: Port[Rails] = Port("payments.rails", Rails())


@cache
def _http() -> httpx.Client:
    """One connection pool per process for every provider call (thread-safe)."""
    return httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))


# --- checking what is entered -----------------------------------------------------------------


def _check_public(name: str, value: str, provider: str) -> None:
    if name == "public_key":
        loader = wechat_keys.load_public_key if provider == WECHATPAY else alipay_keys.load_public_key
        try:
            loader(value)
        except ValueError:
            raise _invalid(name, "not a public key this provider issues (PEM).") from None
    elif not _FORMATS[name].fullmatch(value):
        raise _invalid(name, "not in the provider's format.")


def _check_secret(name: str, value: str, provider: str) -> None:
    if name == "apiv3_key":
        if not (value.isascii() and value.isprintable() and len(value) == 32):
            raise _invalid(name, "the APIv3 key is 32 characters.")
    elif name == "private_key":
        loader = wechat_keys.load_private_key if provider == WECHATPAY else alipay_keys.load_private_key
        try:
            loader(value)
        except ValueError:
            raise _invalid(name, "not an RSA private key (PEM).") from None
    elif not _FORMATS[name].fullmatch(value):
        raise _invalid(name, "not in the provider's format.")


def _text(values: Mapping[str, object], name: str) -> str:
    v = values.get(name)
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > 8192 or "\x00" in v:
        raise _invalid(name, "not text.")
    return v.strip()


# --- use cases ------------------------------------------------------------------------------


def account_for(s: Session, merchant_id: int | None, provider: str) -> PaymentAccount | None:
    """The account of a merchant (None: the platform's own) at a provider, if configured."""
    owner = PaymentAccount.merchant_id.is_(None) if merchant_id is None else PaymentAccount.merchant_id == merchant_id
    return s.scalars(select(PaymentAccount).where(owner, PaymentAccount.provider == provider)).first()


def accounts_of(s: Session, merchant_id: int | None) -> dict[str, PaymentAccount]:
    return {p: a for p in PROVIDERS if (a := account_for(s, merchant_id, p)) is not None}


# What names an account at its provider: one Linli account each, so a merchant can neither
# take payments into another's settlement (a sub-merchant number of someone else) nor stand
# among the holders of another's WeChat Pay key (which open its notifications).
_IDENTITY = {(WECHATPAY, DIRECT): ("mchid", "public_key_id"), (WECHATPAY, PARTNER): ("sub_mchid",), (ALIPAY, DIRECT): ("app_id",)}


def require_unclaimed(s: Session, merchant_id: int | None, provider: str, mode: str, values: Mapping[str, object]) -> None:
    """Refuse (409 ``payment.account_taken``) an account whose merchant number, WeChat Pay key
    id or Alipay app another merchant's (or the platform's) account already holds."""
    mine = PaymentAccount.merchant_id.is_not(None) if merchant_id is None else (PaymentAccount.merchant_id.is_(None) | (PaymentAccount.merchant_id != merchant_id))
    for name in _IDENTITY.get((provider, mode), ()):
        value = _text(values, name)
        if value and s.scalars(select(PaymentAccount.id).where(mine, PaymentAccount.provider == provider, PaymentAccount.mode == mode,
                                                               getattr(PaymentAccount, name) == value)).first() is not None:
            raise Conflict("payment.account_taken", f"This {name} belongs to another account here.", field=name)


def save(s: Session, merchant_id: int | None, provider: str, mode: str, values: Mapping[str, object], now: datetime) -> PaymentAccount:
    """Create or replace an account. A secret left empty keeps the stored one; everything is
    checked before anything is written."""
    if provider not in PROVIDERS:
        raise Invalid("payment.provider_invalid", "The provider is wechatpay or alipay.")
    if mode not in MODES or (merchant_id is None and mode != DIRECT):
        raise Invalid("payment.mode_invalid", "The mode is direct or partner (the platform's own account is direct).")
    if mode == PARTNER and account_for(s, None, provider) is None:
        raise Invalid("payment.platform_account_missing", "The platform has no account at this provider for partner mode yet.")
    spec = SPECS[(provider, mode)]
    existing = account_for(s, merchant_id, provider)
    kept = _open(existing) if existing is not None else {}
    public: dict[str, str] = {}
    for name in spec.required + spec.optional:
        value = _text(values, name)
        if not value and name in spec.required:
            raise _invalid(name, "required.")
        if value:
            _check_public(name, value, provider)
        public[name] = value
    secrets: dict[str, str] = {}
    for name in spec.secrets:
        value = _text(values, name)
        if value:
            _check_secret(name, value, provider)
        else:
            value = kept.get(name, "")
        if not value:
            raise _invalid(name, "required.")
        secrets[name] = value
    if existing is not None:
        platform = account_for(s, None, provider) if mode == PARTNER else None
        _keep_in_flight(s, account_key(s, merchant_id, provider), _identity(provider, mode, public, secrets, platform), merchant_id, provider)
    a = existing or PaymentAccount(merchant_id=merchant_id, provider=provider, created_at=now)
    a.mode = mode
    for name in PUBLIC_FIELDS:
        setattr(a, name, public.get(name, ""))
    a.secrets_sealed = vault.seal(json.dumps(secrets))
    a.masks = {name: vault.mask(v) for name, v in secrets.items()}
    a.updated_at = now
    if existing is None:
        s.add(a)
    s.flush()
    return a


# --- which account took a payment -------------------------------------------------------------


def _identity(provider: str, mode: str, fields: Mapping[str, str], secrets: Mapping[str, str], platform: PaymentAccount | None) -> str | None:
    """The account money goes to: provider, the (服务商) mchid or Alipay app, and the
    sub-merchant in partner mode (for Alipay, a digest of its app auth token, never the
    token). Secrets that do not change the account (keys, serials) are not part of it."""
    if mode == PARTNER:
        if platform is None:
            return None
        sub = fields.get("sub_mchid", "") if provider == WECHATPAY else hashlib.sha256(secrets.get("app_auth_token", "").encode()).hexdigest()[:16]
        return f"{provider}:{platform.mchid if provider == WECHATPAY else platform.app_id}/{sub}"
    return f"{provider}:{fields.get('mchid' if provider == WECHATPAY else 'app_id', '')}"


def account_key(s: Session, merchant_id: int | None, provider: str) -> str | None:
    """The identity of the account a merchant's payments at ``provider`` go to now (None: no
    usable account). Recorded on each payment it takes (``Payment.account_key``)."""
    a = account_for(s, merchant_id, provider)
    if a is None:
        return None
    fields = {name: getattr(a, name) for name in PUBLIC_FIELDS}
    secrets = _open(a) if provider == ALIPAY and a.mode == PARTNER else {}
    return _identity(provider, a.mode, fields, secrets, account_for(s, None, provider) if a.mode == PARTNER else None)


def _in_flight(s: Session, key: str):
    """Money not settled yet at the account ``key`` (or, for the platform's account, at its
    sub-merchants): pending and closed payments still asked of the provider, refunds
    processing."""
    at = or_(Payment.account_key == key, Payment.account_key.startswith(key + "/", autoescape=True))
    # Pending or closed payments the provider may still take money for (the query job still
    # asks about them); one past the provider's expiry is done, even if nobody closed it.
    waiting = Payment.status.in_(("pending", "closed")) & Payment.next_check_at.is_not(None)
    refunding = exists().where(PaymentRefund.payment_id == Payment.id, PaymentRefund.status == "processing")
    return s.scalars(select(Payment.id).where(at, waiting | refunding).limit(1)).first()


def _no_payouts(s: Session, merchant_id: int | None, provider: str) -> bool:
    return False


# Whether sharer payouts sent through a merchant's account at a provider (None: any
# merchant's, for the platform's account) are still in flight there. Commission fills it
# (payments never imports commission): a transfer is asked about, and completed, only at the
# account that sent it, so an edit waits for those too.
payouts_in_flight: Port[Callable[[Session, int | None, str], bool]] = Port("payments.payouts_in_flight", _no_payouts)


def _keep_in_flight(s: Session, old: str | None, new: str | None, merchant_id: int | None, provider: str) -> None:
    """An edit that moves the account elsewhere waits until nothing is in flight there: its
    late notifications, queries, refunds and payout transfers can only go to the account that
    took or sent them."""
    if old is not None and new != old and (_in_flight(s, old) is not None or payouts_in_flight.get()(s, merchant_id, provider)):
        raise Conflict("payment.account_in_use", "Payments or refunds at this account are not settled yet; change the account once they are.")


def _open(a: PaymentAccount) -> dict[str, str]:
    try:
        data = json.loads(vault.open_sealed(a.secrets_sealed))
    except (vault.VaultError, ValueError):
        raise AccountUnusable(detail=f"The {a.provider} account of {_whose(a)} cannot be opened with the configured vault keys.") from None
    return data if isinstance(data, dict) else {}


def _whose(a: PaymentAccount) -> str:
    return "the platform" if a.merchant_id is None else f"merchant {a.merchant_id}"


def wechatpay_credentials(s: Session, merchant_id: int | None) -> wechatpay.WechatPayCredentials | None:
    """A merchant's WeChat Pay credentials (a partner: the platform's keys and its sub-merchant)."""
    a = account_for(s, merchant_id, WECHATPAY)
    if a is None:
        return None
    keys = a if a.mode == DIRECT else account_for(s, None, WECHATPAY)
    if keys is None:
        return None
    secret = _open(keys)
    r = rails.get()
    return wechatpay.WechatPayCredentials(
        mchid=keys.mchid, serial_no=keys.serial_no, private_key=secret.get("private_key", ""), apiv3_key=secret.get("apiv3_key", ""),
        appid=keys.appid, notify_url=r.notify_url(WECHATPAY), public_key_id=keys.public_key_id, public_key=keys.public_key,
        sub_mchid=a.sub_mchid if a.mode == PARTNER else "", sub_appid=a.sub_appid if a.mode == PARTNER else "", base_url=r.wechatpay_base_url,
    )


def wechatpay_client(s: Session, merchant_id: int | None) -> wechatpay.WechatPay | None:
    creds = wechatpay_credentials(s, merchant_id)
    if creds is None:
        return None
    try:
        return wechatpay.WechatPay(creds, http=_http())
    except ValueError:
        raise AccountUnusable(detail=f"The WeChat Pay account of {_whose(account_for(s, merchant_id, WECHATPAY))} does not parse.") from None


def alipay_credentials(s: Session, merchant_id: int | None) -> alipay.AlipayCredentials | None:
    a = account_for(s, merchant_id, ALIPAY)
    if a is None:
        return None
    keys = a if a.mode == DIRECT else account_for(s, None, ALIPAY)
    if keys is None:
        return None
    secret = _open(keys)
    token = _open(a).get("app_auth_token") if a.mode == PARTNER else None
    r = rails.get()
    return alipay.AlipayCredentials(app_id=keys.app_id, private_key=secret.get("private_key", ""), alipay_public_key=keys.public_key,
                                    notify_url=r.notify_url(ALIPAY), app_auth_token=token, base_url=r.alipay_gateway_url)


def alipay_client(s: Session, merchant_id: int | None) -> alipay.AlipayClient | None:
    creds = alipay_credentials(s, merchant_id)
    if creds is None:
        return None
    try:
        return alipay.AlipayClient(creds, _http())
    except Invalid:
        raise AccountUnusable(detail=f"The Alipay account of {_whose(account_for(s, merchant_id, ALIPAY))} does not parse.") from None


def unusable(s: Session) -> list[str]:
    """Every stored account that cannot be opened or does not parse, named by merchant and
    provider (never a secret)."""
    problems = []
    for a in s.scalars(select(PaymentAccount).order_by(PaymentAccount.id)):
        try:
            (wechatpay_client if a.provider == WECHATPAY else alipay_client)(s, a.merchant_id)
        except AccountUnusable:
            problems.append(f"{_whose(a)}: {a.provider}")
    return problems


def require_usable(db: Database, settings: Settings) -> None:
    """Production (server and worker) refuses to start with an unusable stored account, or
    with accounts but no https public URL for the providers' notifications."""
    if not settings.is_production:
        return
    with db.transaction() as s:
        problems = unusable(s)
        configured = s.scalars(select(PaymentAccount.id).limit(1)).first() is not None
    if problems:
        raise ConfigError("payment accounts that cannot be opened with LINLI_VAULT_KEYS or do not parse: " + "; ".join(problems))
    if configured and not settings.public_url.startswith("https://"):
        raise ConfigError("LINLI_PUBLIC_URL must be the https address WeChat Pay and Alipay send notifications to")
