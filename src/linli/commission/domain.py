"""What commission contributes to a process (read by the composition root, ``linli.domains``).

The sandbox payout wallet (``payout.gateway``) where the settings allow the sandbox, else
none: a withdrawal is then paid by its merchant's WeChat Pay or Alipay account, or refused
(``payout_rails``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """The sharer centre's money (referral's ``sharer_money`` port); the sandbox wallet; the
    payouts in flight at an account (payments' ``payouts_in_flight``)."""
    from linli.commission import payout, payout_rails
    from linli.commission.money import SharerMoney
    from linli.payments.accounts import payouts_in_flight
    from linli.referral.ports import sharer_money

    w.fill(sharer_money, SharerMoney(), by="commission")
    w.fill(payouts_in_flight, payout_rails.in_flight, by="commission")
    w.fill(payout.gateway, payout.SANDBOX if w.settings.sandbox_enabled else None, by="commission")


DOMAIN = Domain("commission", modules=("models", "handlers", "jobs"), api=("api:router",), pages=("pages:router",), wire=wire)
