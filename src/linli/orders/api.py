"""Order endpoints: checkout, payment, receipt, pickup verification, refunds, and the
merchant's order desk."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from linli import idempotency, media, qr
from linli.db import Database
from linli.errors import Conflict, NotFound
from linli.identity.service import Principal
from linli.orders import ports, service
from linli.orders.schemas import (
    ApproveIn,
    ArrivedOut,
    CodeIn,
    DeliveryIn,
    LineOut,
    OrderCreate,
    OrderOut,
    OrderSettingsIO,
    PayIn,
    PayOut,
    QueuedOut,
    RefundCaseOut,
    RefundCreate,
    RefundLineOut,
    RejectIn,
    TimelineEntry,
    UploadOut,
)
from linli.orders.service import aftersales
from linli.orders.service import settings as order_settings
from linli.orders.service.queries import OrderDetail, detail
from linli.payments import service as payments
from linli.schema import NO_NUL, Id
from linli.web.deps import DB, Ctx, Now, Who, client_ip
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["orders"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=120)]


def case_out(case, lines) -> RefundCaseOut:
    out = RefundCaseOut.model_validate(case)
    out.lines = [RefundLineOut.model_validate(cl) for cl in lines]
    return out


def order_out(s, d: OrderDetail, *, show_code: bool) -> OrderOut:
    out = OrderOut.model_validate(d.order)
    if not show_code:
        out.pickup_code = None
    out.payment_id = d.payment_id
    out.lines = [LineOut.model_validate(ln) for ln in d.lines]
    out.timeline = [TimelineEntry.model_validate(a) for a in d.timeline]
    cl = aftersales.case_lines(s, [c.id for c in d.refund_cases])
    out.refund_cases = [case_out(c, cl[c.id]) for c in d.refund_cases]
    return out


def orders_out(s, orders, *, show_code: bool) -> list[OrderOut]:
    """A list view: orders with their lines (no timeline)."""
    lines = service.lines_for(s, [o.id for o in orders])
    result = []
    for o in orders:
        out = OrderOut.model_validate(o)
        if not show_code:
            out.pickup_code = None
        out.lines = [LineOut.model_validate(ln) for ln in lines[o.id]]
        result.append(out)
    return result


def _replayed(claim, response: Response):
    response.status_code = claim.replay_status or 200
    return claim.replay


QUEUED = {202: {"model": QueuedOut, "description": "A flash-sale order accepted into the queue (with Redis): poll its ticket"}}


def _new_order(body: OrderCreate) -> service.NewOrder:
    a = body.address
    return service.NewOrder(
        merchant_id=body.merchant_id, items=[(i.sku_id, i.qty) for i in body.items], pickup_point_id=body.pickup_point_id,
        address=service.Address(a.name, a.phone, a.text, a.lat, a.lng) if a else None, campaign_id=body.campaign_id,
        team_id=body.team_id, invite_code=body.invite_code, coupon_id=body.coupon_id, points=body.points, stored_value=body.stored_value,
    )


def _queued(ticket: str) -> JSONResponse:
    path = f"/api/v1/orders/tickets/{ticket}"
    return JSONResponse(QueuedOut(ticket=ticket, status="queued").model_dump(mode="json"), status_code=202, headers={"Location": path})


@router.post("/orders", status_code=201, response_model=OrderOut, responses={**PROBLEMS, **QUEUED})
async def create_order(body: OrderCreate, response: Response, who: Who, ctx: Ctx, now: Now, key: IdemKey = None):
    """A flash-sale rush (with Redis) is answered on the event loop by the queue's gate:
    no thread, no database. Every other order is placed in a pooled thread, in one
    transaction that commits there (see ``web.deps``)."""
    req = _new_order(body)
    ticket = await service.queue_on_loop(ctx.db, who.member_id, req, key, now)
    if ticket is not None:
        return _queued(ticket)
    return await run_in_threadpool(_place, ctx.db, body, req, response, who, now, key)


def _place(db: Database, body: OrderCreate, req: service.NewOrder, response: Response, who: Principal, now: datetime, key: str | None):
    with db.transaction() as s:
        def answer(placed: service.Placed) -> tuple[dict, int]:
            return order_out(s, service.member_order(s, who.member_id, placed.order.id), show_code=True).model_dump(mode="json"), 201

        placed = service.place_order(s, who.member_id, req, now, key=key, scope="orders.create", request=body.model_dump(mode="json"), answer=answer)
        if placed.ticket is not None:
            return _queued(placed.ticket)
        response.status_code = placed.status or 200
        return placed.response


@router.get("/orders/tickets/{ticket}", response_model=QueuedOut, responses=PROBLEMS)
def queued_order(who: Who, ticket: str = Path(max_length=60, pattern=r"^[0-9.-]+$")) -> QueuedOut:
    """Where an order accepted into a flash-sale queue stands: ``queued``, ``created`` (with
    ``order_id``: pay it within the usual time) or ``refused`` (with the reason)."""
    t = ports.queue.get().ticket(who.member_id, ticket)
    if t is None:
        raise NotFound("order.ticket_not_found", "No such queued order.")
    return QueuedOut(**asdict(t))


@router.post("/orders/{oid}/pay", response_model=PayOut, responses=PROBLEMS)
def pay(oid: Id, s: DB, who: Who, now: Now, request: Request, body: PayIn | None = None) -> PayOut:
    """Without a method: the sandbox payment (outside production). With one: the payment at
    that provider and what the client opens it with (``client``)."""
    if body is None or body.method is None:
        p = service.start_payment(s, who.member_id, oid, now)
        if p is None:
            return PayOut(order_id=oid, payment_id=None, amount=0, status="paid")
        return PayOut(order_id=oid, payment_id=p.id, amount=p.amount, status=p.status)
    how = payments.PayWith(body.method, client_ip=client_ip(request), return_url=f"/m/orders/{oid}")
    c = service.pay_with(s, who.member_id, oid, now, how)
    if c is None:
        return PayOut(order_id=oid, payment_id=None, amount=0, status="paid")
    return PayOut(order_id=oid, payment_id=c.payment.id, amount=c.payment.amount, status=c.payment.status, method=c.method, client=c.client)


@router.post("/orders/{oid}/cancel", response_model=OrderOut, responses=PROBLEMS)
def cancel(oid: Id, s: DB, who: Who, now: Now) -> OrderOut:
    service.cancel_by_member(s, who.member_id, oid, now)
    return order_out(s, service.member_order(s, who.member_id, oid), show_code=True)


@router.get("/orders/{oid}", response_model=OrderOut, responses=PROBLEMS)
def get_order(oid: Id, s: DB, who: Who) -> OrderOut:
    return order_out(s, service.member_order(s, who.member_id, oid), show_code=True)


@router.get("/me/orders", response_model=list[OrderOut], responses=PROBLEMS)
def my_orders(s: DB, who: Who, status: str | None = Query(default=None, max_length=20, pattern=NO_NUL), limit: int = Query(default=50, ge=1, le=200), before_id: Id | None = Query(default=None)) -> list[OrderOut]:
    orders = service.member_orders(s, who.member_id, status, limit, before_id)
    return orders_out(s, orders, show_code=True)


@router.get("/orders/{oid}/pickup-qr.png", responses={**PROBLEMS, 200: {"content": {"image/png": {}}}}, response_class=Response)
def pickup_qr(oid: Id, s: DB, who: Who) -> Response:
    """The pickup code as a QR code for the leader to scan (the buyer's own order only)."""
    d = service.member_order(s, who.member_id, oid)
    if not d.order.open_pickup_code:
        raise Conflict("pickup.not_open", "This order has no pickup code to show.")
    return Response(qr.png(qr.pickup_payload(d.order.id, d.order.open_pickup_code)), media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post("/orders/{oid}/confirm-receipt", response_model=OrderOut, responses=PROBLEMS)
def confirm_receipt(oid: Id, s: DB, who: Who, now: Now) -> OrderOut:
    service.confirm_receipt(s, who.member_id, oid, now)
    return order_out(s, service.member_order(s, who.member_id, oid), show_code=True)


@router.post("/orders/{oid}/pickup/verify", response_model=OrderOut, responses=PROBLEMS)
def verify_pickup(oid: Id, body: CodeIn, s: DB, who: Who, now: Now) -> OrderOut:
    o = service.verify_pickup(s, who, oid, body.code, now)
    return order_out(s, detail(s, o), show_code=False)


@router.post("/orders/{oid}/refunds", status_code=201, response_model=RefundCaseOut, responses=PROBLEMS)
def request_refund(oid: Id, body: RefundCreate, response: Response, s: DB, who: Who, now: Now, key: IdemKey = None):
    claim = idempotency.claim(s, f"member:{who.member_id}", f"orders.refund:{oid}", key, body.model_dump(mode="json"), now)
    if claim.replay is not None:
        return _replayed(claim, response)
    case = service.request_refund(s, who.member_id, oid, [(ln.line_id, ln.amount) for ln in body.lines], body.reason, body.photos, now)
    out = case_out(case, aftersales.case_lines(s, [case.id])[case.id])
    claim.store(s, out.model_dump(mode="json"), 201)
    return out


@router.post("/me/uploads", status_code=201, response_model=UploadOut, responses=PROBLEMS)
def upload_photo(file: UploadFile, s: DB, who: Who, ctx: Ctx) -> UploadOut:
    """A photo for a refund request or a review (checked by decoding; at most 5 MB)."""
    rel = media.store_image(file.file.read(media.MAX_IMAGE_BYTES + 1), ctx.settings.media_dir, f"uploads/{who.member_id}")
    return UploadOut(path=rel, url=f"/media/{rel}")


# --- pickup points (leader or staff) ----------------------------------------------------------


@router.post("/pickup-points/{pid}/arrived", response_model=ArrivedOut, responses=PROBLEMS)
def arrived(pid: Id, s: DB, who: Who, now: Now) -> ArrivedOut:
    return ArrivedOut(pickup_point_id=pid, orders=service.point_arrived(s, who, pid, now))


@router.get("/pickup-points/{pid}/orders", response_model=list[OrderOut], responses=PROBLEMS)
def point_orders(pid: Id, s: DB, who: Who) -> list[OrderOut]:
    orders = service.point_orders(s, who, pid, ("paid", "fulfilling", "ready_for_pickup"))
    return orders_out(s, orders, show_code=False)


@router.post("/pickup-points/{pid}/verify", response_model=OrderOut, responses=PROBLEMS)
def verify_at_point(pid: Id, body: CodeIn, s: DB, who: Who, ctx: Ctx, now: Now) -> OrderOut:
    o, code = service.find_by_code(s, who, pid, body.code, ctx.limiter)
    o = service.verify_pickup(s, who, o.id, code, now)
    return order_out(s, detail(s, o), show_code=False)


# --- the merchant's order desk -------------------------------------------------------------------


@router.get("/merchants/{mid}/orders", response_model=list[OrderOut], responses=PROBLEMS)
def merchant_orders(
    mid: Id, s: DB, who: Who,
    status: str | None = Query(default=None, max_length=20, pattern=NO_NUL), community_id: Id | None = Query(default=None),
    pickup_point_id: Id | None = Query(default=None), created_from: datetime | None = Query(default=None, alias="from"),
    created_to: datetime | None = Query(default=None, alias="to"), limit: int = Query(default=100, ge=1, le=500), before_id: Id | None = Query(default=None),
) -> list[OrderOut]:
    f = service.OrderFilter(status, community_id, pickup_point_id, created_from, created_to, None, limit, before_id)
    orders = service.merchant_orders(s, who, mid, f)
    return orders_out(s, orders, show_code=False)


@router.get("/merchants/{mid}/orders/{oid}", response_model=OrderOut, responses=PROBLEMS)
def merchant_order(mid: Id, oid: Id, s: DB, who: Who) -> OrderOut:
    return order_out(s, service.merchant_order(s, who, mid, oid), show_code=False)


@router.post("/merchants/{mid}/orders/{oid}/fulfil", response_model=OrderOut, responses=PROBLEMS)
def fulfil(mid: Id, oid: Id, s: DB, who: Who, now: Now) -> OrderOut:
    service.start_fulfilment(s, who, mid, oid, now)
    return order_out(s, service.merchant_order(s, who, mid, oid), show_code=False)


@router.post("/merchants/{mid}/orders/{oid}/ready", response_model=OrderOut, responses=PROBLEMS)
def ready(mid: Id, oid: Id, s: DB, who: Who, now: Now) -> OrderOut:
    service.mark_ready(s, who, mid, oid, now)
    return order_out(s, service.merchant_order(s, who, mid, oid), show_code=False)


@router.post("/merchants/{mid}/orders/{oid}/delivery", response_model=OrderOut, responses=PROBLEMS)
def delivery(mid: Id, oid: Id, body: DeliveryIn, s: DB, who: Who, now: Now) -> OrderOut:
    service.delivery_update(s, who, mid, oid, body.action, body.note, now)
    return order_out(s, service.merchant_order(s, who, mid, oid), show_code=False)


@router.get("/merchants/{mid}/refunds", response_model=list[RefundCaseOut], responses=PROBLEMS)
def refund_cases(mid: Id, s: DB, who: Who, status: str | None = Query(default=None, pattern="^(requested|approved|rejected|refunded)$")) -> list[RefundCaseOut]:
    cases = service.list_cases(s, who, mid, status)
    cl = aftersales.case_lines(s, [c.id for c in cases])
    return [case_out(c, cl[c.id]) for c in cases]


@router.post("/merchants/{mid}/refunds/{rid}/approve", response_model=RefundCaseOut, responses=PROBLEMS)
def approve(mid: Id, rid: Id, s: DB, who: Who, now: Now, body: ApproveIn | None = None) -> RefundCaseOut:
    case = service.approve(s, who, mid, rid, now, body.note if body else None)
    return case_out(case, aftersales.case_lines(s, [case.id])[case.id])


@router.post("/merchants/{mid}/refunds/{rid}/reject", response_model=RefundCaseOut, responses=PROBLEMS)
def reject(mid: Id, rid: Id, body: RejectIn, s: DB, who: Who, now: Now) -> RefundCaseOut:
    case = service.reject(s, who, mid, rid, body.reason, now)
    return case_out(case, aftersales.case_lines(s, [case.id])[case.id])


@router.get("/merchants/{mid}/order-settings", response_model=OrderSettingsIO, responses=PROBLEMS)
def get_settings(mid: Id, s: DB, who: Who) -> OrderSettingsIO:
    row = order_settings.get(s, who, mid)
    return OrderSettingsIO(**{f: getattr(row, f) for f in order_settings.SETTINGS.names})


@router.put("/merchants/{mid}/order-settings", response_model=OrderSettingsIO, responses=PROBLEMS)
def put_settings(mid: Id, body: OrderSettingsIO, s: DB, who: Who) -> OrderSettingsIO:
    row = order_settings.put(s, who, mid, body.model_dump())
    return OrderSettingsIO(**{f: getattr(row, f) for f in order_settings.SETTINGS.names})
