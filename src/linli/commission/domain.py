"""What commission contributes to a process (read by the composition root, ``linli.domains``).

The payout provider port (``payout.gateway``) keeps its default, the sandbox wallet, until
real rails are configured (issue 17 fills it here from Settings)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """The sharer centre's money (referral's ``sharer_money`` port)."""
    from linli.commission.money import SharerMoney
    from linli.referral.ports import sharer_money

    w.fill(sharer_money, SharerMoney(), by="commission")


DOMAIN = Domain("commission", modules=("models", "handlers", "jobs"), api=("api:router",), pages=("pages:router",), wire=wire)
