"""Display names of states the pages of several domains show (a sharer's status, commission
records, withdrawals, team levels): shared page furniture, so no domain's pages import
another's. Marked with ``N_`` and translated where they are shown."""

from __future__ import annotations

from linli.i18n import N_

SHARER_STATUS = {
    "none": N_("Not a sharer yet"),
    "applied": N_("Application under review"),
    "active": N_("Sharer"),
    "suspended": N_("Suspended"),
    "rejected": N_("Application not approved"),
}
LEVEL_NAMES = {0: N_("Leader"), 1: N_("Level 1"), 2: N_("Level 2"), 3: N_("Level 3")}
RECORD_STATES = {"frozen": N_("Frozen"), "available": N_("Available"), "held": N_("On hold"), "withdrawn": N_("Withdrawn"), "cancelled": N_("Cancelled")}
RECORD_KINDS = {"accrual": "", "clawback": N_("Clawback after a refund"), "bonus": N_("Monthly bonus")}
WITHDRAWAL_STATUS = {
    "pending_review": N_("Waiting for the shop's review"),
    "approved": N_("Approved, paying out"),
    "paying": N_("Paying out"),
    "paid": N_("Paid out"),
    "failed": N_("Payout failed, money returned"),
    "rejected": N_("Rejected, money returned"),
}
TEAM_LEVELS = {1: N_("Invited by me"), 2: N_("Invited by my friends"), 3: N_("Invited by their friends")}
NAMES = {"team_levels": TEAM_LEVELS, "sharer_status": SHARER_STATUS, "level_names": LEVEL_NAMES, "record_states": RECORD_STATES, "record_kinds": RECORD_KINDS, "withdrawal_status": WITHDRAWAL_STATUS}
