"""Payment endpoints: the gateway's signed callback and the sandbox payment sheet."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from linli.errors import NotFound
from linli.payments import service
from linli.payments.gateway import SIGNATURE_HEADER
from linli.schema import Id, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["payments"])


class PaymentOut(Output):
    id: int
    order_id: int | None  # None when the payment is for another subject
    subject: str  # order | topup
    subject_id: int | None
    amount: int
    refunded: int
    status: str
    gateway: str


class CallbackAck(Output):
    code: str = "SUCCESS"


@router.get("/payments/{pid}", response_model=PaymentOut, responses=PROBLEMS)
def get_payment(pid: Id, s: DB, who: Who) -> PaymentOut:
    p = service.get_payment(s, pid)
    if p.member_id != who.member_id:
        raise NotFound("payment.not_found", "No such payment.")
    return PaymentOut.model_validate(p)


@router.post("/payments/sandbox/{pid}/complete", status_code=202, response_model=PaymentOut, responses=PROBLEMS)
def sandbox_complete(pid: Id, s: DB, who: Who, now: Now) -> PaymentOut:
    """The buyer confirms in the sandbox payment sheet; the signed callback follows."""
    return PaymentOut.model_validate(service.sandbox_complete(s, who.member_id, pid, now))


@router.post("/payments/callback", response_model=CallbackAck, responses=PROBLEMS)
async def callback(request: Request) -> CallbackAck:
    """The gateway's asynchronous notification. The raw body is what is signed."""
    raw = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    ctx = request.app.state.ctx

    def handle() -> None:
        with ctx.db.transaction() as s:
            service.receive_callback(s, raw, signature, ctx.now())

    await run_in_threadpool(handle)
    return CallbackAck()
