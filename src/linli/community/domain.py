"""What community contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """The member profile's home community (identity's ``homes`` port)."""
    from linli.community.homes import Homes
    from linli.identity.ports import homes

    w.fill(homes, Homes(), by="community")


DOMAIN = Domain("community", modules=("models",), api=("api:router",), pages=("pages:router",), wire=wire)
