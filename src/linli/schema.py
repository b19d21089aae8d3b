"""Base classes for wire models: inputs refuse unknown fields (and, where members join or
become sharers, any entry fee), outputs read attributes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, model_validator

from linli.errors import Invalid
from linli.knobs import Knob

# A row id as it may arrive on the wire (path, query or body): 1 .. 2^63-1, the range of
# BIGINT on PostgreSQL and INTEGER on SQLite. Anything else is 422, never a driver
# overflow (500). As a required query parameter write ``Annotated[Id, Query()]``: with
# ``x: Id = Query()`` FastAPI drops the bounds (tests/kernel/test_routes.py checks them).
Id = Annotated[int, Ge(1), Le(2**63 - 1)]

# Text fields refuse NUL characters: PostgreSQL cannot store them in text columns (it
# would be a 500), and no person types one. For query parameters: ``Query(pattern=NO_NUL)``.
NO_NUL = r"^[^\x00]*$"


def _refuse_nul(value: object) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k)
            _refuse_nul(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _refuse_nul(v)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: object) -> object:
        _refuse_nul(data)
        return data


# 《禁止传销条例》 bans entry fees (入门费), and becoming a sharer never costs money (RULES.md,
# "Commission"). No setting allows a fee; a request that tries to set one, by any of these
# names, is refused as such (422 ``compliance.entry_fee``) instead of as a mere unknown field.
ENTRY_FEE = re.compile(r"^(entry|entrance|join|joining|signup|sign_up|registration|admission|membership|sharer|distributor)_?(fee|fees|price|cost|charge|deposit)(_\w+)?$")


def refuse_entry_fee(data: object) -> None:
    if isinstance(data, dict):
        for key in data:
            if isinstance(key, str) and ENTRY_FEE.match(key.strip().lower()):
                raise Invalid(
                    "compliance.entry_fee", "Joining or becoming a sharer never costs money: 《禁止传销条例》 bans entry fees (入门费), so no fee can be set.", field=key,
                )


class FeeFreeInput(Input):
    """An input that sets how members join or become sharers: it refuses any entry fee."""

    @model_validator(mode="before")
    @classmethod
    def _no_entry_fee(cls, data: object) -> object:
        refuse_entry_fee(data)  # a domain error, not a ValueError: it leaves as its own problem
        return data


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def setting_field(knob: Knob, **extra: Any) -> Any:
    """The wire field of a domain setting: its default and bounds (or choices) from the
    domain's spec, so out-of-bounds input is a 422 from the schema before any service runs.
    A list setting gets its default only (its service checks each item and the length)."""
    if isinstance(knob.default, tuple):
        return Field(default_factory=lambda: list(knob.default), **extra)
    if knob.choices:
        return Field(default=knob.default, pattern=f"^({'|'.join(knob.choices)})$", **extra)
    if knob.lo is not None:
        return Field(default=knob.default, ge=knob.lo, le=knob.hi, **extra)
    return Field(default=knob.default, **extra)
