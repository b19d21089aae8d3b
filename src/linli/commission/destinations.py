"""Where a sharer wants withdrawals paid: WeChat (the default: their WeChat balance, by the
openid of the shop's app) or Alipay (a login id — the phone number or e-mail they sign in
with — and the real name Alipay checks it against). The Alipay details are sealed at rest
and shown again only masked (``138****8000``, ``z***@example.com``, ``*三``)."""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy.orm import Session

from linli import vault
from linli.commission.models import PayoutDestination
from linli.errors import Invalid

WECHAT, ALIPAY = "wechat", "alipay"
PREFERS = (WECHAT, ALIPAY)
_PHONE = re.compile(r"1[3-9][0-9]{9}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,190}\.[A-Za-z]{2,24}")


def mask_account(account: str) -> str:
    if _PHONE.fullmatch(account):
        return f"{account[:3]}****{account[-4:]}"
    local, _, domain = account.partition("@")
    tail = domain if len(domain) <= 40 else "…" + domain[-39:]  # the column holds 64 characters
    return f"{local[0]}***@{tail}"


def mask_name(name: str) -> str:
    return "*" + name[1:] if len(name) > 1 else "*"


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 30 or any(ch.isdigit() or not ch.isprintable() for ch in name):
        raise Invalid("payout.alipay_name_invalid", "Enter the real name of the Alipay account's holder.")
    return name


def of(s: Session, member_id: int) -> PayoutDestination | None:
    return s.get(PayoutDestination, member_id)


def alipay_payee(s: Session, member_id: int) -> tuple[str, str] | None:
    """The sharer's Alipay login id and real name, or None when they gave none."""
    d = of(s, member_id)
    if d is None or not d.alipay_sealed:
        return None
    data = json.loads(vault.open_sealed(d.alipay_sealed))
    return data["account"], data["name"]


def save(s: Session, member_id: int, prefer: str, alipay_account: str, alipay_name: str, now: datetime) -> PayoutDestination:
    """Choose where withdrawals go; an Alipay account given replaces the stored one (left
    empty, the stored one is kept). Checked before anything is written."""
    if prefer not in PREFERS:
        raise Invalid("payout.prefer_invalid", "Withdrawals go to wechat or alipay.")
    d = of(s, member_id)
    account = alipay_account.strip()
    sealed = d.alipay_sealed if d is not None else None
    masks = (d.alipay_mask, d.name_mask) if d is not None else ("", "")
    if account:
        if not (_PHONE.fullmatch(account) or _EMAIL.fullmatch(account)):
            raise Invalid("payout.alipay_account_invalid", "An Alipay account is the phone number or e-mail address you sign in with.")
        name = _name(alipay_name)
        sealed, masks = vault.seal(json.dumps({"account": account, "name": name})), (mask_account(account), mask_name(name))
    elif alipay_name.strip():
        raise Invalid("payout.alipay_account_invalid", "Enter the Alipay account the name belongs to.")
    if prefer == ALIPAY and not sealed:
        raise Invalid("payout.alipay_account_required", "Add your Alipay account to be paid by Alipay.")
    if d is None:
        d = PayoutDestination(member_id=member_id)
        s.add(d)
    d.prefer, d.alipay_sealed, (d.alipay_mask, d.name_mask), d.updated_at = prefer, sealed, masks, now
    s.flush()
    return d
