"""Identity's ports.

``homes``: where a member lives (their home community, the communities they lead): identity shows
and edits it on the member's profile (``/me``, ``/m/me``), the community domain owns it. The
community domain fills this port from its ``wire`` (``community/domain.py``), so identity
never imports community (which builds on identity).

``wechat``: the WeChat login API client, filled from the settings by ``identity/domain.py``
(its base URLs point at the local fake in tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from linli.composition import Port
from linli.errors import NotFound
from linli.identity.wechat_client import WechatClient


class Homes(Protocol):
    def home_of(self, s: Session, member_id: int) -> Any | None:
        """The member's home community (id, name, city, merchant_id, …), if any."""

    def led_by(self, s: Session, member_id: int) -> list[Any]:
        """The communities the member leads."""

    def choices(self, s: Session) -> list[Any]:
        """The communities a member may choose as home."""

    def set_home(self, s: Session, member_id: int, community_id: int, now: datetime) -> None:
        """Make ``community_id`` the member's home (refusing an unknown one)."""


class NoHomes:
    def home_of(self, s: Session, member_id: int) -> Any | None:
        return None

    def led_by(self, s: Session, member_id: int) -> list[Any]:
        return []

    def choices(self, s: Session) -> list[Any]:
        return []

    def set_home(self, s: Session, member_id: int, community_id: int, now: datetime) -> None:
        raise NotFound("community.not_found", "No such community.")


homes: Port[Homes] = Port("identity.homes", NoHomes())

wechat: Port[WechatClient] = Port("identity.wechat", WechatClient())
