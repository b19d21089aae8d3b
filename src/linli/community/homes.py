"""identity's ``homes`` port (``identity.ports``) filled from this domain: the member
profile's home community and the communities a member leads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli.community import service
from linli.community.models import Community


class Homes:
    def home_of(self, s: Session, member_id: int) -> Community | None:
        return service.home_community(s, member_id)

    def led_by(self, s: Session, member_id: int) -> list[Community]:
        return service.communities_led_by(s, member_id)

    def choices(self, s: Session) -> list[Community]:
        return service.public_communities(s, limit=500)

    def set_home(self, s: Session, member_id: int, community_id: int, now: datetime) -> None:
        service.set_home_community(s, member_id, community_id, now)
