"""Time: stored in UTC, shown and counted in days of Asia/Shanghai (UTC+8, no DST)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_day_start(instant: datetime) -> datetime:
    """The start (as an instant in ``instant``'s zone) of its calendar day in Shanghai."""
    local = instant.astimezone(SHANGHAI)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(instant.tzinfo)


def local_time(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """How pages show an instant."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(SHANGHAI).strftime(fmt)
