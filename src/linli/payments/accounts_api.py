"""Payment account endpoints: the platform's own accounts (platform admins) and each
merchant's (its owner). Reading shows the public fields and the secrets' masks only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import Field
from sqlalchemy.orm import Session

from linli.errors import NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.payments import accounts
from linli.payments.models import PaymentAccount
from linli.schema import Id, Input, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["payments"])
Provider = Annotated[Literal["wechatpay", "alipay"], Path()]
Text = Annotated[str | None, Field(default=None, max_length=8192)]


class AccountIn(Input):
    """Fields by provider and mode. WeChat Pay direct: mchid, appid, serial_no, public_key_id,
    public_key (the WeChat Pay public key, PEM), private_key (apiclient_key.pem), apiv3_key.
    WeChat Pay partner: sub_mchid, sub_appid?. Alipay direct: app_id, public_key (支付宝公钥),
    private_key (应用私钥). Alipay partner: app_auth_token. A secret left out keeps the stored one."""

    mode: Literal["direct", "partner"] = "direct"
    mchid: Text = None
    appid: Text = None
    serial_no: Text = None
    public_key_id: Text = None
    public_key: Text = None
    sub_mchid: Text = None
    sub_appid: Text = None
    app_id: Text = None
    private_key: Text = None
    apiv3_key: Text = None
    app_auth_token: Text = None


class AccountOut(Output):
    merchant_id: int | None
    provider: str
    mode: str
    mchid: str
    appid: str
    serial_no: str
    public_key_id: str
    sub_mchid: str
    sub_appid: str
    app_id: str
    public_key_set: bool
    masks: dict[str, str] = Field(description="each stored secret as its mask (the last four characters at most)")
    notify_url: str = Field(description="the notification URL to register with the provider")
    updated_at: datetime


def account_out(a: PaymentAccount) -> AccountOut:
    return AccountOut(merchant_id=a.merchant_id, provider=a.provider, mode=a.mode, mchid=a.mchid, appid=a.appid, serial_no=a.serial_no,
                      public_key_id=a.public_key_id, sub_mchid=a.sub_mchid, sub_appid=a.sub_appid, app_id=a.app_id,
                      public_key_set=bool(a.public_key), masks=dict(a.masks or {}), notify_url=accounts.rails.get().notify_url(a.provider),
                      updated_at=a.updated_at)


def owned(s: Session, who: Principal, merchant_id: int | None) -> None:
    """Platform accounts: platform admins only; a merchant's: its owner (others 403, or 404
    for someone who is not its staff)."""
    if merchant_id is None:
        identity.require_admin(who)
    else:
        identity.require_permission(s, who, merchant_id, Permission.manage_credentials)


def may_save(s: Session, who: Principal, merchant_id: int | None, provider: str, mode: str, values: dict) -> None:
    """Saving is the owner's, except naming a sub-merchant (partner mode): that binds the
    shop to the platform's 服务商 account, which only the platform does (it onboarded the
    sub-merchant and knows its number). And no two accounts here name the same one."""
    owned(s, who, merchant_id)
    if mode == accounts.PARTNER:
        identity.require_admin(who)
    accounts.require_unclaimed(s, merchant_id, provider, mode, values)


def _get(s: Session, who: Principal, merchant_id: int | None, provider: str) -> AccountOut:
    owned(s, who, merchant_id)
    a = accounts.account_for(s, merchant_id, provider)
    if a is None:
        raise NotFound("payment.account_not_found", "No account at this provider yet.")
    return account_out(a)


def _put(s: Session, who: Principal, merchant_id: int | None, provider: str, body: AccountIn, now: datetime) -> AccountOut:
    values = body.model_dump(exclude={"mode"})
    may_save(s, who, merchant_id, provider, body.mode, values)
    return account_out(accounts.save(s, merchant_id, provider, body.mode, values, now))


@router.get("/platform/payment-accounts/{provider}", response_model=AccountOut, responses=PROBLEMS)
def get_platform_account(provider: Provider, s: DB, who: Who) -> AccountOut:
    return _get(s, who, None, provider)


@router.put("/platform/payment-accounts/{provider}", response_model=AccountOut, responses=PROBLEMS)
def put_platform_account(provider: Provider, body: AccountIn, s: DB, who: Who, now: Now) -> AccountOut:
    return _put(s, who, None, provider, body, now)


@router.get("/merchants/{mid}/payment-accounts/{provider}", response_model=AccountOut, responses=PROBLEMS)
def get_merchant_account(mid: Id, provider: Provider, s: DB, who: Who) -> AccountOut:
    return _get(s, who, mid, provider)


@router.put("/merchants/{mid}/payment-accounts/{provider}", response_model=AccountOut, responses=PROBLEMS)
def put_merchant_account(mid: Id, provider: Provider, body: AccountIn, s: DB, who: Who, now: Now) -> AccountOut:
    return _put(s, who, mid, provider, body, now)
