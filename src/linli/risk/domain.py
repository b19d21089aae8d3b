"""What risk contributes to a process (read by the composition root, ``linli.domains``):
its signals table, the handlers that record a login's, a binding's and an order's signals
from identity's, referral's, orders' and payments' events, and the retention job. ``wire``
fills the kernel's ``edge.hash_key`` with the app's secret key (the keyed hash of every
captured value), fills commission's ``screen`` port with risk's screen of a paid order, and
sets the retention from the settings; the rule-set and case endpoints, the console's rule
editor, case desk and the order page's risk panel. It reaches identity and orders through their services only."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    from linli import edge
    from linli.commission import ports as commission_ports
    from linli.risk import signals
    from linli.risk.screen import RiskScreen

    w.fill(edge.hash_key, w.settings.secret_key, by="risk")
    w.fill(commission_ports.screen, RiskScreen(), by="risk")
    signals.configure(retention_days=w.settings.risk_signal_retention_days)


DOMAIN = Domain("risk", modules=("models", "handlers", "jobs"), api=("rules_api:router", "cases_api:router"), pages=("rules_pages:router", "desk_pages:router"), wire=wire)
