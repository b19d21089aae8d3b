"""The events payments emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``sandbox.callback`` v1: the buyer confirmed in the sandbox payment sheet; carries the
  gateway's signed callback body, which payments' own handler delivers to itself (the
  outbox retries it as a real gateway would).
- ``payment.succeeded`` v1: a payment was recorded as succeeded (once per payment), naming
  what it paid for: an order (``subject`` "order", ``order_id``) or another domain's
  subject (``subject`` and ``subject_id``, e.g. rewards' "topup"). Orders mark the order
  paid (or refund a late payment); rewards credits a top-up. Rows written before subjects
  existed have neither field and read as an order's payment. ``payer``: the keyed hash of
  the paying account the gateway named (absent when it named none). Risk records it on the
  order's signals.
- ``payment.refund_failed`` v1: a refund the provider had accepted did not reach the buyer
  (``state`` "failed": the provider closed it, the amount may be refunded again; "abnormal":
  the buyer's card or account could not take it, the money is held at the provider until
  finance completes it there). Names the refund's request key and what the payment was
  for, so its owner can reopen or list it; finance sees it on the reconciliation page.
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
    order_id: int | None  # None when the payment is not for an order
    amount: int  # fen
    subject: str = "order"  # order | topup | … (what the payment was for)
    subject_id: int | None = None  # the subject's id when it is not an order
    payer: str | None = None  # keyed hash (linli.edge) of the gateway's payer account


class PaymentRefundFailed(EventPayload):
    NAME = "payment.refund_failed"
    refund_id: int
    payment_id: int
    order_id: int | None
    amount: int  # fen
    state: str  # failed | abnormal
    request_key: str  # what asked for the refund (refund_case:12, late_payment:7, …)
    subject: str = "order"
    subject_id: int | None = None
