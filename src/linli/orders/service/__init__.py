"""Order use cases, split by what the user does (DESIGN.md: a service package past ~600
lines): checkout and payment, placing an order (API and page alike), fulfilment, after-sales, queries."""

from linli.orders.service.aftersales import (
    approve,
    cases_of_order,
    list_cases,
    open_requests,
    reject,
    request_refund,
    system_refund,
)
from linli.orders.service.campaign_views import (
    CHUNK,
    BuyerCodeSales,
    CodeSales,
    OrderRef,
    Sales,
    SkuUnits,
    campaign_sales,
    campaigns_with_orders_in,
    count_campaign_orders,
    order_ids_by_invite_code,
    order_refs,
    order_refs_page,
    orders_by_community,
    sales_by_invite_code,
    sales_by_invite_code_and_buyer,
    units_by_sku,
)
from linli.orders.service.checkout import (
    Address,
    NewOrder,
    cancel_by_member,
    cancel_unpaid_order,
    create_order,
    mark_paid,
    pay_with,
    payable,
    start_payment,
)
from linli.orders.service.fulfilment import (
    confirm_receipt,
    delivery_update,
    find_by_code,
    mark_ready,
    point_arrived,
    release_hold,
    start_fulfilment,
    verify_pickup,
)
from linli.orders.service.money_views import PaidOrder, count_paid_orders, paid_order, paid_orders_page
from linli.orders.service.placement import Placed, place_order, queue_on_loop
from linli.orders.service.queries import (
    Buyer,
    Completion,
    OrderFilter,
    buyer_of,
    completions,
    first_received_order,
    has_paid_order,
    line_amounts,
    lines_for,
    member_order,
    member_orders,
    merchant_order,
    merchant_orders,
    point_orders,
    received_spend,
)

__all__ = [
    "Address", "NewOrder", "OrderFilter", "approve", "cancel_by_member", "cases_of_order", "confirm_receipt", "create_order",
    "delivery_update", "find_by_code", "lines_for", "list_cases", "mark_paid", "mark_ready", "member_order", "member_orders",
    "merchant_order", "merchant_orders", "Placed", "place_order", "queue_on_loop", "point_arrived", "point_orders", "reject", "request_refund", "start_fulfilment",
    "first_received_order", "Completion", "completions", "Buyer", "buyer_of",
    "has_paid_order", "line_amounts", "received_spend", "start_payment", "pay_with", "payable", "verify_pickup",
    "release_hold", "system_refund", "open_requests", "cancel_unpaid_order",
    # money facts for analytics (money_views.py)
    "PaidOrder", "count_paid_orders", "paid_order", "paid_orders_page",
    # campaign views (campaign_views.py)
    "CHUNK", "CodeSales", "OrderRef", "Sales", "SkuUnits", "campaign_sales", "campaigns_with_orders_in", "count_campaign_orders",
    "order_refs", "order_refs_page", "orders_by_community", "sales_by_invite_code", "units_by_sku",
    "BuyerCodeSales", "order_ids_by_invite_code", "sales_by_invite_code_and_buyer",
]
