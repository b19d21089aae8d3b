"""What one tap on "become a sharer" would do, per sharer mode and status (pure)."""

from __future__ import annotations

import pytest

from linli.referral.rules import SharerMode, SharerPath, sharer_path

M = SharerMode


@pytest.mark.parametrize(("mode", "status", "eligible", "path"), [
    (M.everyone, "none", False, SharerPath.instant),
    (M.everyone_after_purchase, "none", True, SharerPath.instant),
    (M.everyone_after_purchase, "none", False, SharerPath.needs_purchase),
    (M.spend_threshold, "rejected", True, SharerPath.instant),
    (M.spend_threshold, "none", False, SharerPath.needs_spend),
    (M.approval, "none", True, SharerPath.approval),
    (M.approval, "rejected", False, SharerPath.approval),
    (M.invited, "none", True, SharerPath.invite_only),
    (M.invited, "active", False, SharerPath.active),
    (M.approval, "applied", False, SharerPath.applied),
    (M.everyone, "suspended", True, SharerPath.suspended),
])
def test_sharer_path(mode, status, eligible, path):
    assert sharer_path(mode, status, eligible) == path
