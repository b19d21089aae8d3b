"""A merchant and its owner made through the identity service (for service-level tests)."""

from __future__ import annotations

from datetime import datetime, timezone

from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from tests.conftest import ADMIN

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


def new_merchant(db: Database) -> tuple[int, Principal]:
    """(merchant id, its owner) in a committed transaction."""
    with db.transaction() as s:
        admin = identity.get_or_create_member(s, ADMIN, NOW)
        merchant, owner = identity.create_merchant(s, Principal(admin.id, admin.phone, True), "优邻优选", "13800000001", NOW)
        return merchant.id, Principal(owner.id, owner.phone, False)
