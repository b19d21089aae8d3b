from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linli.schema import Id, Input, Output


class CommunityCreate(Input):
    name: str = Field(max_length=60, examples=["云顶华府"])
    city: str = Field(max_length=30, examples=["杭州"])
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class CommunityPatch(Input):
    name: str | None = Field(default=None, max_length=60)
    city: str | None = Field(default=None, max_length=30)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


class PickupPointCreate(Input):
    name: str = Field(max_length=60)
    address: str = Field(max_length=200)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class PickupPointOut(Output):
    id: int
    community_id: int
    name: str
    address: str
    lat: float
    lng: float
    active: bool


class LeaderSet(Input):
    member_id: Id | None


class CommunityOut(Output):
    id: int
    merchant_id: int
    name: str
    city: str
    lat: float
    lng: float
    leader_member_id: int | None
    created_at: datetime
    pickup_points: list[PickupPointOut] = []


class PublicCommunity(Output):
    id: int
    merchant_id: int
    name: str
    city: str
