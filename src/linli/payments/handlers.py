"""The sandbox gateway's callback delivery (retried by the outbox until accepted)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.events import Event, on
from linli.payments import service
from linli.payments.events import SandboxCallback


@on(SandboxCallback)
def deliver_sandbox_callback(s: Session, event: Event[SandboxCallback]) -> None:
    # The sandbox sends the callback when the buyer confirms (the event's time); the
    # outbox retries delivery, and each delivery is verified as the gateway sent it.
    service.receive_callback(s, event.payload.raw.encode(), event.payload.signature, event.created_at)
