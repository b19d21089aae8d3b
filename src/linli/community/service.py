"""Community use cases: communities, pickup points, leaders, residences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli import events
from linli.community import rules
from linli.community.events import CommunityCreated, CommunityLeaderChanged, MemberCommunitySet
from linli.community.models import Community, PickupPoint, Residence
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal


def _community_or_404(s: Session, merchant_id: int, community_id: int) -> Community:
    c = s.get(Community, community_id)
    if c is None or c.merchant_id != merchant_id:
        raise NotFound("community.not_found", "No such community.")
    return c


def create_community(s: Session, who: Principal, merchant_id: int, name: str, city: str, lat: float, lng: float, now: datetime) -> Community:
    identity.require_permission(s, who, merchant_id, Permission.manage_communities)
    name = rules.clean_name(name, field="name")
    city = rules.clean_name(city, field="city", max_len=30)
    lat, lng = rules.check_coordinates(lat, lng)
    dup = s.scalars(select(Community.id).where(Community.merchant_id == merchant_id, Community.city == city, Community.name == name)).first()
    if dup:
        raise Conflict("community.exists", f"{city} already has a community named {name}.")
    c = Community(merchant_id=merchant_id, name=name, city=city, lat=lat, lng=lng, created_at=now)
    s.add(c)
    s.flush()
    events.emit(s, CommunityCreated(community_id=c.id), merchant_id=merchant_id, at=now)
    return c


def list_communities(s: Session, who: Principal, merchant_id: int) -> list[Community]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return list(s.scalars(select(Community).where(Community.merchant_id == merchant_id).order_by(Community.id)))


def get_community(s: Session, who: Principal, merchant_id: int, community_id: int) -> Community:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return _community_or_404(s, merchant_id, community_id)


def update_community(s: Session, who: Principal, merchant_id: int, community_id: int, *, name: str | None, city: str | None, lat: float | None, lng: float | None) -> Community:
    identity.require_permission(s, who, merchant_id, Permission.manage_communities)
    c = _community_or_404(s, merchant_id, community_id)
    new_name = rules.clean_name(name, field="name") if name is not None else c.name
    new_city = rules.clean_name(city, field="city", max_len=30) if city is not None else c.city
    if (new_name, new_city) != (c.name, c.city):
        dup = s.scalars(select(Community.id).where(Community.merchant_id == merchant_id, Community.city == new_city, Community.name == new_name, Community.id != c.id)).first()
        if dup:
            raise Conflict("community.exists", f"{new_city} already has a community named {new_name}.")
    if (lat is None) != (lng is None):
        raise Invalid("community.location_invalid", "Give latitude and longitude together.")
    if lat is not None:
        c.lat, c.lng = rules.check_coordinates(lat, lng)
    c.name, c.city = new_name, new_city
    s.flush()
    return c


def public_communities(s: Session, merchant_id: int | None = None, city: str | None = None, q: str | None = None, limit: int = 100) -> list[Community]:
    """What a member may choose from when setting their community."""
    stmt = select(Community).order_by(Community.city, Community.name).limit(min(max(limit, 1), 500))
    if merchant_id is not None:
        stmt = stmt.where(Community.merchant_id == merchant_id)
    if city:
        stmt = stmt.where(Community.city == city)
    if q:
        stmt = stmt.where(Community.name.contains(q.strip(), autoescape=True))
    return list(s.scalars(stmt))


def public_community(s: Session, community_id: int) -> Community:
    c = s.get(Community, community_id)
    if c is None:
        raise NotFound("community.not_found", "No such community.")
    return c


# --- pickup points -------------------------------------------------------------------------


def add_pickup_point(s: Session, who: Principal, merchant_id: int, community_id: int, name: str, address: str, lat: float, lng: float, now: datetime) -> PickupPoint:
    identity.require_permission(s, who, merchant_id, Permission.manage_communities)
    c = _community_or_404(s, merchant_id, community_id)
    lat, lng = rules.check_coordinates(lat, lng)
    p = PickupPoint(
        merchant_id=merchant_id,
        community_id=c.id,
        name=rules.clean_name(name, field="pickup_name"),
        address=rules.clean_name(address, field="address", max_len=200),
        lat=lat,
        lng=lng,
        created_at=now,
    )
    s.add(p)
    s.flush()
    return p


def list_pickup_points(s: Session, community_id: int, *, include_inactive: bool = False) -> list[PickupPoint]:
    stmt = select(PickupPoint).where(PickupPoint.community_id == community_id).order_by(PickupPoint.id)
    if not include_inactive:
        stmt = stmt.where(PickupPoint.active.is_(True))
    return list(s.scalars(stmt))


def pickup_points_of(s: Session, community_ids: list[int]) -> dict[int, list[PickupPoint]]:
    out: dict[int, list[PickupPoint]] = {cid: [] for cid in community_ids}
    if community_ids:
        for p in s.scalars(select(PickupPoint).where(PickupPoint.community_id.in_(community_ids)).order_by(PickupPoint.id)):
            out[p.community_id].append(p)
    return out


def get_pickup_point(s: Session, pickup_point_id: int) -> PickupPoint:
    p = s.get(PickupPoint, pickup_point_id)
    if p is None:
        raise NotFound("pickup_point.not_found", "No such pickup point.")
    return p


# --- leaders -------------------------------------------------------------------------------


def set_leader(s: Session, who: Principal, merchant_id: int, community_id: int, member_id: int | None) -> Community:
    identity.require_permission(s, who, merchant_id, Permission.manage_communities)
    c = _community_or_404(s, merchant_id, community_id)
    if member_id is not None:
        identity.get_member(s, member_id)
    previous = c.leader_member_id
    c.leader_member_id = member_id
    s.flush()
    if previous != member_id:
        events.emit(s, CommunityLeaderChanged(community_id=c.id, leader_member_id=member_id, previous_member_id=previous), merchant_id=merchant_id)
    return c


def communities_led_by(s: Session, member_id: int) -> list[Community]:
    return list(s.scalars(select(Community).where(Community.leader_member_id == member_id).order_by(Community.id)))


def distance_from_led(s: Session, member_id: int, merchant_id: int, lat: float, lng: float) -> int | None:
    """Metres from (lat, lng) to the nearest centre of a community ``member_id`` leads at
    this merchant; None when they lead none."""
    led = [c for c in communities_led_by(s, member_id) if c.merchant_id == merchant_id]
    return min((rules.distance_m(lat, lng, c.lat, c.lng) for c in led), default=None)


def is_leader_of_point(s: Session, member_id: int, pickup_point_id: int) -> bool:
    p = get_pickup_point(s, pickup_point_id)
    c = s.get(Community, p.community_id)
    return c is not None and c.leader_member_id == member_id


# --- residences ----------------------------------------------------------------------------


def set_home_community(s: Session, member_id: int, community_id: int, now: datetime) -> Community:
    c = public_community(s, community_id)
    r = s.scalars(select(Residence).where(Residence.member_id == member_id, Residence.merchant_id == c.merchant_id)).first()
    if r is None:
        s.add(Residence(member_id=member_id, merchant_id=c.merchant_id, community_id=c.id, updated_at=now))
    else:
        r.community_id, r.updated_at = c.id, now
    s.flush()
    events.emit(s, MemberCommunitySet(member_id=member_id, community_id=c.id), merchant_id=c.merchant_id, at=now)
    return c


def home_community(s: Session, member_id: int, merchant_id: int | None = None) -> Community | None:
    """The member's community with ``merchant_id``, or the one chosen most recently."""
    stmt = select(Community).join(Residence, Residence.community_id == Community.id).where(Residence.member_id == member_id)
    if merchant_id is not None:
        stmt = stmt.where(Residence.merchant_id == merchant_id)
    return s.scalars(stmt.order_by(Residence.updated_at.desc(), Residence.id.desc()).limit(1)).first()
