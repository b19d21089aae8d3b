"""A plugin that is a whole domain (``LINLI_PLUGINS=tests.extra_domain``): a router mounted
by the app factory and a ``wire`` the composition root runs. Its route is not in the API
schema, so the other tests never see it."""

from __future__ import annotations

from fastapi import APIRouter

from linli.composition import Domain, Port, Wiring

greeting: Port[str] = Port("extra.greeting", "unwired")
router = APIRouter(include_in_schema=False)


@router.get("/_extra/greeting")
def hello() -> dict[str, str]:
    return {"greeting": greeting.get()}


def wire(w: Wiring) -> None:
    w.fill(greeting, f"hello from {w.settings.env}", by="extra")


DOMAIN = Domain("extra", modules=(), api=("extra_domain:router",), package="tests", wire=wire)
