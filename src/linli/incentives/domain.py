"""What incentives contributes to a process (read by the composition root, ``linli.domains``):
its tables and handlers, the programme, referral, badge, leaderboard and honour endpoints, the
console's programme, badge and honour pages, its sections of the sharer centre (邀请奖励,
新手礼包, 我的徽章, 我的榜单) and the invite landing, and the leaderboard and honour pages. No
ports of its own: it reaches referral, orders, campaigns, rewards and commission through
their services and events, and answers campaigns' ``early_access`` port (社区推荐官's first
access to trials). ``wire`` puts the leaderboards on Redis when one is configured
(else the database alone)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    from linli.campaigns import ports as campaign_ports
    from linli.incentives import badges, board_store

    board_store.configure(w.redis)
    w.fill(campaign_ports.early_access, badges.recommender_early_access, by="incentives")


DOMAIN = Domain("incentives", modules=("models", "handlers", "jobs"), api=("api:router", "board_api:router", "badge_api:router"),
                pages=("pages:router", "console_pages:router", "board_pages:router", "badge_pages:router", "badge_console_pages:router"), wire=wire)
