"""What the order pages share (member H5, the leader's desk, the console): the messages of
the orders domain's error codes, the names of statuses, timeline steps and refund states,
and what an order page shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from linli.community import service as community
from linli.errors import NotFound
from linli.i18n import N_
from linli.identity import service as identity
from linli.orders import rules
from linli.orders.service import aftersales
from linli.orders.service.queries import OrderDetail
from linli.web.pages import Page, error_messages

error_messages(
    {
        "order.empty": N_("Choose something to buy."),
        "order.too_many_lines": N_("An order has at most 50 items."),
        "order.qty_invalid": N_("Quantities are whole numbers from 1."),
        "order.qty_over_limit": N_("That is more of one item than one order may hold."),
        "order.sku_unknown": N_("This item is not on sale in this shop."),
        "order.fulfilment_required": N_("Choose a pickup point, or enter a delivery address."),
        "order.pickup_point_invalid": N_("This pickup point does not serve this shop."),
        "order.out_of_delivery_range": N_("This address is too far for delivery; choose a pickup point instead."),
        "order.member_limit": N_("You have reached the purchase limit for this product."),
        "stock.sold_out": N_("Sold out: not enough stock is left for this quantity."),
        "order.not_found": N_("No such order."),
        "order.cancelled": N_("This order was cancelled; place a new one."),
        "order.not_payable": N_("This order is already paid."),
        "order.expired": N_("The order was not paid in time and has been cancelled."),
        "order.not_cancellable": N_("Only unpaid orders can be cancelled; ask for a refund instead."),
        "order.changed": N_("The order changed meanwhile; reload the page."),
        "order.bad_state": N_("The order's status does not allow this now."),
        "order.not_receivable": N_("Only orders ready for pickup or out for delivery can be confirmed."),
        "order.not_pickup": N_("This order is delivered, not picked up."),
        "order.not_delivery": N_("This order is picked up, not delivered."),
        "order.settings_invalid": N_("A setting is out of bounds."),
        "delivery.action_invalid": N_("Choose a valid delivery step."),
        "delivery.note_required": N_("Write what happened."),
        "pickup.code_invalid": N_("Wrong pickup code."),
        "pickup.code_unknown": N_("No order waiting at this pickup point has this code. Check the digits."),
        "pickup.not_your_point": N_("Only this pickup point's leader or the shop's staff may do this."),
        "pickup.locked": N_("Too many wrong codes for this order; the shop's staff must verify it."),
        "pickup.not_open": N_("This order is not waiting for pickup."),
        "pickup.rate_limited": N_("Too many unknown codes; wait a few minutes before trying again."),
        "pickup.codes_exhausted": N_("Could not find a free pickup code; please try again."),
        "pickup_point.not_found": N_("No such pickup point."),
        "community.recipient_invalid": N_("Enter the recipient's name (1 to 30 characters)."),
        "refund.not_paid": N_("This order is not paid; cancel it instead."),
        "refund.not_refundable": N_("This order has no paid money to refund."),
        "refund.reason_required": N_("Say why (1 to 200 characters)."),
        "refund.photos_invalid": N_("Attach at most 9 photos."),
        "refund.lines_required": N_("Choose what to refund."),
        "refund.line_unknown": N_("This item is not part of the order."),
        "refund.amount_invalid": N_("The refund amount must be more than 0."),
        "refund.amount_format": N_("Enter the amount in yuan with at most 2 decimals, e.g. 12.50."),
        "refund.exceeds_paid": N_("That is more than can still be refunded on this item."),
        "refund.already_decided": N_("This refund request was already decided."),
        "refund.not_found": N_("No such refund request."),
        "order.filter_date_invalid": N_("Dates look like 2026-11-22."),
        "order.filter_status_invalid": N_("Choose a status from the list."),
        "idempotency.key_reused": N_("This form was already sent. Reload the page to start again."),
        "idempotency.in_progress": N_("This form is still being processed; wait a moment."),
    }
)

STATUS_NAMES = {
    "pending_payment": N_("Awaiting payment"),
    "paid": N_("Paid"),
    "grouping": N_("Waiting for the group to form"),
    "fulfilling": N_("Preparing"),
    "ready_for_pickup": N_("Ready for pickup"),
    "delivering": N_("Out for delivery"),
    "received": N_("Received"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
ACTION_NAMES = {
    "created": N_("Order placed"),
    "paid": N_("Payment received"),
    "fulfilling": N_("The shop is preparing the goods"),
    "ready_for_pickup": N_("Ready at the pickup point"),
    "arrived": N_("Arrived at the pickup point"),
    "delivering": N_("Out for delivery"),
    "delivery_update": N_("Delivery update"),
    "picked_up": N_("Picked up (code verified)"),
    "confirmed": N_("Receipt confirmed"),
    "delivered": N_("Delivered"),
    "auto_confirmed": N_("Receipt confirmed automatically"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
    "refund_requested": N_("Refund requested"),
    "refunded": N_("Refunded"),
    "refund_rejected": N_("Refund request rejected"),
    "late_payment_refunded": N_("A late payment was refunded"),
    "duplicate_payment_refunded": N_("A second payment of this order was refunded"),
    "grouping": N_("Waiting for the group to form"),
    "group_formed": N_("The group formed; the order goes on"),
    "pickup_code_wrong": N_("A wrong pickup code was entered"),
}
ACTOR_NAMES = {"member": N_("Buyer"), "staff": N_("Shop staff"), "leader": N_("Leader"), "system": N_("System"), "gateway": N_("Payment")}
CASE_NAMES = {"requested": N_("Under review"), "approved": N_("Approved"), "rejected": N_("Rejected"), "refunded": N_("Refunded")}
CANCEL_REASONS = {"buyer_cancelled": N_("cancelled by the buyer"), "payment_timeout": N_("not paid in time"), "refunded": N_("fully refunded"), "team_failed": N_("the team did not fill in time")}
NAMES = {"status_names": STATUS_NAMES, "action_names": ACTION_NAMES, "actor_names": ACTOR_NAMES, "case_names": CASE_NAMES, "cancel_reasons": CANCEL_REASONS}


def query_int(page: Page, name: str) -> int | None:
    raw = page.request.query_params.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None


def merchant_name(s: Session, merchant_id: int) -> str:
    try:
        return identity.public_merchant(s, merchant_id).name
    except NotFound:
        return ""


# --- what an order page shows ---------------------------------------------------------------------


@dataclass
class LineView:
    line: Any
    left: int  # fen that may still be asked back


def order_view(s: Session, d: OrderDetail) -> dict[str, Any]:
    o = d.order
    lines = [LineView(ln, rules.refundable_left(ln.paid, ln.refunded, ln.refund_reserved)) for ln in d.lines]
    names = {ln.id: f"{ln.product_name} · {ln.sku_name}" for ln in d.lines}
    case_lines = aftersales.case_lines(s, [c.id for c in d.refund_cases])
    cases = [{"case": c, "lines": [(names.get(cl.line_id, ""), cl.amount) for cl in case_lines[c.id]]} for c in d.refund_cases]
    point = community.get_pickup_point(s, o.pickup_point_id) if o.pickup_point_id else None
    return {
        "order": o, "lines": lines, "cases": cases, "timeline": d.timeline, "point": point, "payment_id": d.payment_id,
        "merchant_name": merchant_name(s, o.merchant_id), "refundable": o.status in rules.REFUNDABLE,
        "show_code": bool(o.open_pickup_code) and o.status in rules.OPEN_FOR_PICKUP,
    }
