from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from linli.schema import Id, Input, Output


class OtpRequest(Input):
    phone: str = Field(max_length=32, examples=["13800138000"])


class OtpSent(Output):
    phone: str
    expires_at: datetime
    debug_code: str | None = Field(default=None, description="Only outside production.")


class LoginRequest(Input):
    phone: str = Field(max_length=32)
    code: str = Field(max_length=12)
    invite_code: str | None = Field(default=None, max_length=32)


class LoginResult(Output):
    access_token: str
    token_type: str = "bearer"
    member_id: int
    created: bool


class MeCommunity(Output):
    id: int
    name: str
    city: str
    merchant_id: int


class MeMerchant(Output):
    merchant_id: int
    name: str
    role: str


class MeOut(Output):
    id: int
    phone: str
    nickname: str
    birthday: date | None
    community_id: int | None
    community: MeCommunity | None
    is_platform_admin: bool
    staff_of: list[MeMerchant]
    leads: list[MeCommunity]


class MePatch(Input):
    nickname: str | None = Field(default=None, max_length=40)
    community_id: Id | None = None
    birthday: date | None = None


class MerchantCreate(Input):
    name: str = Field(max_length=80)
    owner_phone: str = Field(max_length=32)


class MerchantOut(Output):
    id: int
    name: str
    status: str
    created_at: datetime
    owner_member_id: int | None = None
    role: str | None = None


class StaffCreate(Input):
    phone: str = Field(max_length=32)
    role: str = Field(max_length=16)


class StaffPatch(Input):
    role: str = Field(max_length=16)


class StaffOut(Output):
    id: int
    merchant_id: int
    member_id: int
    phone_masked: str
    nickname: str
    role: str
    created_at: datetime
