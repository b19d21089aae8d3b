"""Which rail pays a withdrawal, and the payout gateway for it.

A merchant with a WeChat Pay account (direct, or a sub-merchant of the platform's 服务商)
pays by merchant transfer (商家转账) to the sharer's openid in the account's app; with an
Alipay account, by Alipay transfer to the sharer's Alipay account when they chose Alipay
(or cannot be paid in WeChat); with neither, the sandbox wallet where there is one. In
production there is none: such a withdrawal is refused when it is asked for, before any
money moves. The rail is chosen once, when the withdrawal is asked for, and kept on it: a
retry or the reconcile job asks the same provider about the same transfer number."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from linli.commission import destinations, payout
from linli.commission.models import Withdrawal
from linli.errors import Conflict
from linli.identity import service as identity
from linli.payments import accounts
from linli.payments.providers.alipay import LOGON_ID, AlipayPayout
from linli.payments.providers.wechatpay_payout import WechatPayout

SANDBOX, WECHATPAY, ALIPAY = "sandbox", accounts.WECHATPAY, accounts.ALIPAY


def _no_rail() -> Conflict:
    return Conflict("withdrawal.no_payout_rail", "This shop cannot pay withdrawals yet: it has no WeChat Pay or Alipay account.")


def _openid(s: Session, merchant_id: int, member_id: int) -> str | None:
    creds = accounts.wechatpay_credentials(s, merchant_id)
    return None if creds is None else identity.wechat_openid(s, member_id, creds.app)


def choose(s: Session, merchant_id: int, member_id: int) -> str:
    """The rail of a new withdrawal, or a refusal saying what the sharer (or the shop) lacks."""
    configured = accounts.accounts_of(s, merchant_id)
    dest = destinations.of(s, member_id)
    alipay_ready = ALIPAY in configured and dest is not None and bool(dest.alipay_sealed)
    if alipay_ready and dest.prefer == destinations.ALIPAY:
        return ALIPAY
    if WECHATPAY in configured:
        if _openid(s, merchant_id, member_id):
            return WECHATPAY
        if alipay_ready:
            return ALIPAY
        raise Conflict("withdrawal.wechat_required", "Log in with WeChat in this shop's app first: the shop pays withdrawals to your WeChat balance.")
    if alipay_ready:
        return ALIPAY
    if ALIPAY in configured:
        raise Conflict("withdrawal.alipay_required", "Add your Alipay account first: this shop pays withdrawals by Alipay.")
    if payout.gateway.get() is not None:
        return SANDBOX
    raise _no_rail()


def gateway_for(s: Session, bind: Engine | Connection, w: Withdrawal) -> payout.PayoutGateway:
    """The gateway of a withdrawal's rail, built from what the database holds now (no
    provider is called here)."""
    rail = w.rail or SANDBOX
    if rail == SANDBOX:
        provider = payout.gateway.get()
        if provider is None:
            raise _no_rail()
        return provider.connect(bind)
    if rail == WECHATPAY:
        client = accounts.wechatpay_client(s, w.merchant_id)
        if client is None:
            raise _no_rail()
        openid = identity.wechat_openid(s, w.member_id, client.creds.app)
        return WechatPayout(client, lambda _member: openid)
    client = accounts.alipay_client(s, w.merchant_id)
    if client is None:
        raise _no_rail()
    account, name = destinations.alipay_payee(s, w.member_id) or (None, None)
    return AlipayPayout(client, lambda _member: account, identity_type=LOGON_ID, name=name)


def in_flight(s: Session, merchant_id: int | None, provider: str) -> bool:
    """Whether a withdrawal paid through ``provider`` at ``merchant_id`` (None: at any
    merchant, for the platform's account) is sent and not settled: asked about, and
    completed, only at the account that sent it (payments' ``payouts_in_flight``)."""
    q = select(Withdrawal.id).where(Withdrawal.status == "paying", Withdrawal.rail == provider)
    if merchant_id is not None:
        q = q.where(Withdrawal.merchant_id == merchant_id)
    return s.scalars(q.limit(1)).first() is not None
