"""The events payments emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``sandbox.callback`` v1: the buyer confirmed in the sandbox payment sheet; carries the
  gateway's signed callback body, which payments' own handler delivers to itself (the
  outbox retries it as a real gateway would).
- ``payment.succeeded`` v1: a payment was recorded as succeeded (once per payment). Orders
  mark the order paid (or refund a late payment).
"""

from __future__ import annotations

from linli.events import EventPayload


class SandboxCallback(EventPayload):
    NAME = "sandbox.callback"
    raw: str
    signature: str


class PaymentSucceeded(EventPayload):
    NAME = "payment.succeeded"
    payment_id: int
    order_id: int
    amount: int  # fen
