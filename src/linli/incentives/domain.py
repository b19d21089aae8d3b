"""What incentives contributes to a process (read by the composition root, ``linli.domains``):
its tables and handlers, the programme, referral, leaderboard and honour endpoints, the
console's programme pages and honours section, its sections of the sharer centre and the
invite landing, and the leaderboard and honour pages. No ports: it reaches referral,
orders, rewards and commission through their services and events. ``wire`` puts the
leaderboards on Redis when one is configured (else the database alone)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    from linli.incentives import board_store

    board_store.configure(w.redis)


DOMAIN = Domain("incentives", modules=("models", "handlers", "jobs"), api=("api:router", "board_api:router"),
                pages=("pages:router", "console_pages:router", "board_pages:router"), wire=wire)
