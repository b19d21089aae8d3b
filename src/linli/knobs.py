"""A domain's merchant-tunable settings, described once: name, default, bounds (or choices).

Each domain that has settings writes one ``Spec`` at its rules level (``<domain>/rules.py``,
pure); the SQLAlchemy column defaults, the wire schemas (``schema.setting_field``), the
pages' form bounds and the service's own refusal all read it, so a default or a bound is
written in one place. Pure: no I/O.

A value is refused with ``Invalid`` carrying a stable code (the knob's own where the domain
had one already, else the spec's, by default ``<domain>.settings_out_of_bounds``) and
``field`` with ``lo``/``hi`` (or ``choices``), so a page can say what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from linli.errors import Invalid


@dataclass(frozen=True)
class Knob:
    """One setting. Its kind follows its default: a bool is on/off, a str one of ``choices``,
    an int (or a tuple of ints, each) from ``lo`` to ``hi``."""

    name: str
    default: Any
    lo: int | None = None
    hi: int | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""  # fen | bp | minutes | hours | days | m | units | levels: how a page shows it
    code: str = ""  # the stable error code when refused ("" = the spec's)

    def __post_init__(self) -> None:
        if isinstance(self.default, str) != bool(self.choices) or (self.lo is None) != (self.hi is None):
            raise ValueError(f"knob {self.name}: choices go with a text default, lo with hi")
        if not self.allows(self.default):
            raise ValueError(f"knob {self.name}: the default {self.default!r} is outside its own bounds")

    @property
    def bounds(self) -> tuple[int, int]:
        if self.lo is None or self.hi is None:
            raise KeyError(f"{self.name} has no bounds")
        return self.lo, self.hi

    def allows(self, value: Any) -> bool:
        if isinstance(self.default, bool):
            return isinstance(value, bool)
        if isinstance(self.default, str):
            return isinstance(value, str) and value in self.choices
        if isinstance(self.default, tuple) and not isinstance(value, list | tuple):
            return False
        items = value if isinstance(self.default, tuple) else (value,)
        return all(not isinstance(v, bool) and isinstance(v, int) and (self.lo is None or self.lo <= v <= self.hi) for v in items)


@dataclass(frozen=True)
class Spec:
    """The settings of one domain, in the order its forms and checks go through them."""

    domain: str
    knobs: tuple[Knob, ...]
    code: str = ""  # the code of a refusal when the knob has none ("" = <domain>.settings_out_of_bounds)

    def __post_init__(self) -> None:
        if len({k.name for k in self.knobs}) != len(self.knobs):
            raise ValueError(f"{self.domain}: a setting is described twice")
        if not self.code:
            object.__setattr__(self, "code", f"{self.domain}.settings_out_of_bounds")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.knobs)

    def __getitem__(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(f"{self.domain} has no setting {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(k.name == name for k in self.knobs)

    def __iter__(self) -> Iterator[Knob]:
        return iter(self.knobs)

    def default(self, name: str) -> Any:
        return self[name].default

    def defaults(self, *names: str) -> dict[str, Any]:
        """The defaults (of ``names``, or of every setting), tuples as lists (as stored)."""
        return {k.name: list(k.default) if isinstance(k.default, tuple) else k.default for k in self.knobs if not names or k.name in names}

    def bounds(self, name: str) -> tuple[int, int]:
        return self[name].bounds

    def check(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """``values`` if every one is a setting of this domain within its bounds; else the
        first that is not (in the order given) is refused."""
        for name, value in values.items():
            if name not in self:
                raise Invalid(self.code, f"{self.domain} has no setting {name}.", field=name)
            k = self[name]
            if k.allows(value):
                continue
            code = k.code or self.code
            if k.choices:
                raise Invalid(code, f"{name} is one of {', '.join(k.choices)}.", field=name, choices=list(k.choices))
            if k.lo is None:
                raise Invalid(code, f"{name} is true or false.", field=name)
            raise Invalid(code, f"{name} must be from {k.lo} to {k.hi}.", field=name, lo=k.lo, hi=k.hi)
        return values
