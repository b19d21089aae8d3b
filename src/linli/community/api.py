"""Community endpoints: communities, pickup points, leaders (staff) and the public list."""

from __future__ import annotations

from fastapi import Query

from linli.community import service
from linli.community.schemas import (
    CommunityCreate,
    CommunityOut,
    CommunityPatch,
    LeaderSet,
    PickupPointCreate,
    PickupPointOut,
    PublicCommunity,
)
from linli.schema import NO_NUL, Id
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["community"])


def _out(s, c) -> CommunityOut:
    points = service.list_pickup_points(s, c.id, include_inactive=True)
    out = CommunityOut.model_validate(c)
    out.pickup_points = [PickupPointOut.model_validate(p) for p in points]
    return out


@router.post("/merchants/{mid}/communities", status_code=201, response_model=CommunityOut, responses=PROBLEMS)
def create_community(mid: Id, body: CommunityCreate, s: DB, who: Who, now: Now) -> CommunityOut:
    return _out(s, service.create_community(s, who, mid, body.name, body.city, body.lat, body.lng, now))


@router.get("/merchants/{mid}/communities", response_model=list[CommunityOut], responses=PROBLEMS)
def list_communities(mid: Id, s: DB, who: Who) -> list[CommunityOut]:
    communities = service.list_communities(s, who, mid)
    points = service.pickup_points_of(s, [c.id for c in communities])
    result = []
    for c in communities:
        out = CommunityOut.model_validate(c)
        out.pickup_points = [PickupPointOut.model_validate(p) for p in points[c.id]]
        result.append(out)
    return result


@router.get("/merchants/{mid}/communities/{cid}", response_model=CommunityOut, responses=PROBLEMS)
def get_community(mid: Id, cid: Id, s: DB, who: Who) -> CommunityOut:
    return _out(s, service.get_community(s, who, mid, cid))


@router.patch("/merchants/{mid}/communities/{cid}", response_model=CommunityOut, responses=PROBLEMS)
def patch_community(mid: Id, cid: Id, body: CommunityPatch, s: DB, who: Who) -> CommunityOut:
    return _out(s, service.update_community(s, who, mid, cid, name=body.name, city=body.city, lat=body.lat, lng=body.lng))


@router.post("/merchants/{mid}/communities/{cid}/pickup-points", status_code=201, response_model=PickupPointOut, responses=PROBLEMS)
def add_pickup_point(mid: Id, cid: Id, body: PickupPointCreate, s: DB, who: Who, now: Now) -> PickupPointOut:
    return PickupPointOut.model_validate(service.add_pickup_point(s, who, mid, cid, body.name, body.address, body.lat, body.lng, now))


@router.put("/merchants/{mid}/communities/{cid}/leader", response_model=CommunityOut, responses=PROBLEMS)
def set_leader(mid: Id, cid: Id, body: LeaderSet, s: DB, who: Who) -> CommunityOut:
    return _out(s, service.set_leader(s, who, mid, cid, body.member_id))


@router.get("/communities", response_model=list[PublicCommunity], responses=PROBLEMS)
def public_communities(
    s: DB,
    merchant_id: Id | None = Query(default=None),
    city: str | None = Query(default=None, max_length=30, pattern=NO_NUL),
    q: str | None = Query(default=None, max_length=60, pattern=NO_NUL),
) -> list[PublicCommunity]:
    return [PublicCommunity.model_validate(c) for c in service.public_communities(s, merchant_id, city, q)]


@router.get("/communities/{cid}/pickup-points", response_model=list[PickupPointOut], responses=PROBLEMS)
def public_pickup_points(cid: Id, s: DB) -> list[PickupPointOut]:
    c = service.public_community(s, cid)
    return [PickupPointOut.model_validate(p) for p in service.list_pickup_points(s, c.id)]
