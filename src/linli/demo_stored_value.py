"""Demo stored value (储值): the shop's top-up plans (充100送10 …) and a member who topped up
through the sandbox gateway, made through the same services a member's requests use."""

from __future__ import annotations

from datetime import datetime

from linli import events
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.payments import service as payments
from linli.rewards import stored_value

PLANS = [(10_000, 1000), (30_000, 5000), (50_000, 10_000)]  # fen: 充100送10, 充300送50, 充500送100
TOPPED_UP = ("13700000002", 30_000)  # a member with 300 元 principal and 50 元 bonus


def seed_stored_value(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> None:
    with db.transaction() as s:
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        stored_value.set_plans(s, Principal(owner_m.id, owner_m.phone, False), merchant_id, PLANS)
        phone, pay = TOPPED_UP
        member = identity.get_or_create_member(s, phone, now)
        p = stored_value.create_topup(s, member.id, merchant_id, pay, now)[1].payment
        payments.sandbox_complete(s, member.id, p.id, now)
    events.drain(db)
