"""Payment endpoints: the gateways' signed notifications and the sandbox payment sheet."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from linli.errors import DomainError, NotFound
from linli.payments import notifications, service
from linli.payments.gateway import SIGNATURE_HEADER
from linli.schema import Id, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["payments"])
log = logging.getLogger("linli.payments")


class PaymentOut(Output):
    id: int
    order_id: int | None  # None when the payment is for another subject
    subject: str  # order | topup
    subject_id: int | None
    amount: int
    refunded: int
    status: str
    gateway: str
    method: str | None


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


async def _notified(request: Request, receive) -> DomainError | None:
    """Run one notification in its own transaction; the refusal, if any (nothing is kept)."""
    raw = await request.body()
    ctx = request.app.state.ctx

    def handle() -> None:
        with ctx.db.transaction() as s:
            receive(s, raw, ctx.now())

    try:
        await run_in_threadpool(handle)
    except DomainError as exc:
        log.warning("notification refused on %s: %s", request.url.path, exc.code)
        return exc
    return None


@router.post("/payments/wechatpay/notify", status_code=204, responses={400: {"description": "Refused: {code: FAIL, message}"}})
async def wechatpay_notify(request: Request) -> Response:
    """WeChat Pay's payment and refund notifications. Answered as WeChat Pay expects: 204 when
    recorded; a refusal 4xx (an outage 5xx) with ``{"code": "FAIL", "message"}`` — WeChat Pay
    sends it again later. ``reason`` is our stable code."""
    refused = await _notified(request, lambda s, raw, now: notifications.receive_wechatpay(s, request.headers, raw, now))
    if refused is None:
        return Response(status_code=204)
    status = refused.status if 400 <= refused.status < 600 else 400
    return JSONResponse({"code": "FAIL", "message": refused.detail or refused.title, "reason": refused.code}, status_code=status)


@router.post("/payments/alipay/notify", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {}}}})
async def alipay_notify(request: Request) -> PlainTextResponse:
    """Alipay's asynchronous notification (a form): ``success`` once recorded, else ``failure``
    (Alipay sends it again, for about 25 hours)."""
    refused = await _notified(request, notifications.receive_alipay)
    return PlainTextResponse("success" if refused is None else "failure")
