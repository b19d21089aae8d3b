"""Wire models of the risk rule set, built from ``rule_set.SPEC`` (one knob, one field).

A PUT body is a partial object of knob values. Its fields are typed (a whole number or
true/false) and document their bounds, but the bounds and unknown keys are the service's to
refuse, so every refused knob answers the same stable code, ``risk.rules_invalid``, with
``field`` (and ``lo``/``hi``); a value of the wrong JSON type is the schema's 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, StrictBool, StrictInt, create_model

from linli.knobs import Knob
from linli.risk.rule_set import SPEC
from linli.schema import Input, Output


def _doc(k: Knob) -> str:
    if isinstance(k.default, bool):
        return f"on/off (default {str(k.default).lower()})"
    return f"{k.lo}–{k.hi} {k.unit} (default {k.default})"


def _typed(k: Knob) -> Any:
    return StrictBool if isinstance(k.default, bool) else StrictInt


def _bounds(k: Knob) -> dict[str, int]:
    return {} if k.lo is None else {"minimum": k.lo, "maximum": k.hi}


class _Partial(Input):
    # Unknown keys go on to the service, which names them (risk.rules_invalid, field).
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


RiskRulesIn = create_model(
    "RiskRulesIn", __base__=_Partial, __doc__="Any of the knobs; the others keep the values of the version in force.",
    **{k.name: (_typed(k), Field(default=k.default, description=_doc(k), json_schema_extra=_bounds(k))) for k in SPEC},
)

RulesValues = create_model(
    "RiskRulesValues", __base__=Output, __doc__="Every knob of a version.",
    **{k.name: (bool if isinstance(k.default, bool) else int, Field(description=_doc(k))) for k in SPEC},
)


class RiskRulesOut(Output):
    merchant_id: int
    version: int  # 0: the defaults, never saved
    values: RulesValues  # type: ignore[valid-type]
    created_at: datetime | None
    created_by: int | None  # the member who saved it


class RiskRuleChangeOut(Output):
    field: str
    old: bool | int | None
    new: bool | int | None


class RiskRulesVersionOut(Output):
    version: int
    created_at: datetime
    created_by: int | None
    created_by_nickname: str | None
    changes: list[RiskRuleChangeOut]  # what this version changed compared with the one before (version 1: with the defaults)
