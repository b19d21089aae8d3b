"""What a domain contributes to a process, and the ports one domain declares for others.

Each domain says in one place, ``linli/<domain>/domain.py``, what it brings::

    DOMAIN = Domain(
        "orders",
        modules=("models", "handlers", "jobs"),  # imported for their tables, @on handlers, @job jobs
        api=("api:router",),                      # FastAPI routers, mounted in this order
        pages=("member_pages:router", ...),       # page routers (they register console sections)
        wire=wire,                                # fills ports and gateways from Settings
    )

and ``linli.domains`` (the composition root) lists the domains, loads them and runs their
``wire`` at start-up. Adding a domain is a folder plus one line there.

A ``Port`` is a seam a domain declares for others to fill (orders' pricing steps, the
payment gateway, the payout provider). It holds a default that refuses or passes through,
and only the composition root fills it (``Wiring.fill``), so no module sets another's
globals and a reader finds every implementation in the ``wire`` functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Port(Generic[T]):
    """One implementation slot, named ``<owner>.<what>``, with its default."""

    def __init__(self, name: str, default: T) -> None:
        self.name = name
        self._default = default
        self._impl = default

    def get(self) -> T:
        return self._impl

    @property
    def filled(self) -> bool:
        return self._impl is not self._default

    def _set(self, impl: T) -> None:
        self._impl = impl

    @contextmanager
    def using(self, impl: T) -> Iterator[T]:
        """Tests only: ``impl`` in the slot for the block, then what was there."""
        before = self._impl
        self._impl = impl
        try:
            yield impl
        finally:
            self._impl = before

    def __repr__(self) -> str:
        return f"Port({self.name!r}, {self._impl!r})"


@dataclass
class Wiring:
    """What ``wire`` functions get: the settings, shared clients, and the one way to fill a port."""

    settings: Any
    redis: Any = None
    filled: dict[str, str] = field(default_factory=dict)  # port name → the domain that filled it

    def fill(self, port: Port[T], impl: T, *, by: str) -> None:
        if port.name in self.filled and self.filled[port.name] != by:
            raise RuntimeError(f"port {port.name} is filled by {self.filled[port.name]} already, not also by {by}")
        port._set(impl)
        self.filled[port.name] = by


@dataclass(frozen=True)
class Domain:
    """A domain's contributions. Names in ``modules``/``api``/``pages`` are relative to ``package``
    (default ``linli.<name>``); routers are ``module:attribute``."""

    name: str
    modules: tuple[str, ...] = ("models", "handlers", "jobs")
    api: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    wire: Callable[[Wiring], None] | None = None
    package: str = ""

    @property
    def root(self) -> str:
        return self.package or f"linli.{self.name}"

    def module_names(self) -> list[str]:
        return [f"{self.root}.{m}" for m in self.modules]

    def routers(self, which: str) -> list[Any]:
        out = []
        for ref in self.api if which == "api" else self.pages:
            module, _, attr = ref.partition(":")
            out.append(getattr(importlib.import_module(f"{self.root}.{module}"), attr or "router"))
        return out
