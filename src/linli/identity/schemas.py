from __future__ import annotations

from datetime import date, datetime
from typing import Literal

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


WechatKind = Literal["mini_program", "official_account"]


class WechatLoginRequest(Input):
    code: str = Field(min_length=1, max_length=128, description="wx.login's code (mini program) or the web authorisation's code (official account); used once.")
    app: WechatKind
    phone_code: str | None = Field(default=None, max_length=128, description="The mini program's phone-number code (getPhoneNumber), when WeChat login answered identity.phone_required.")
    merchant_id: Id | None = Field(default=None, description="Log in through this merchant's app when it has one (else the platform's).")
    invite_code: str | None = Field(default=None, max_length=32)


class WechatAppIn(Input):
    appid: str = Field(max_length=32, examples=["wxd678efh567hg6787"])
    secret: str | None = Field(default=None, max_length=64, description="The AppSecret; leave out to keep the current one (same AppID).")


class WechatAppOut(Output):
    kind: str
    merchant_id: int | None
    appid: str
    secret_mask: str = Field(description="The AppSecret is never shown again; only its last characters.")
    updated_at: datetime
