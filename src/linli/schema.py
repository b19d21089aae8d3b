"""Base classes for wire models: inputs refuse unknown fields, outputs read attributes."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, model_validator

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
