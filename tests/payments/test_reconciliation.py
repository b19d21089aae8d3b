"""The daily bill reconciliation against the WeChat Pay fake's planted bill: exactly the
differences planted (one missing each way, one amount) and nothing else, after an outage
left the day to retry; running the day again adds nothing; resolving needs a note and the
finance or owner role; the 对账 page lists and resolves without JavaScript."""

from __future__ import annotations

from datetime import date

import pytest

from linli import jobs
from linli.payments import reconciliation
from linli.payments import service as payments
from linli.payments.providers.wechatpay import refund_no, trade_no
from linli.timeutil import SHANGHAI
from tests.conftest import login, problem_code
from tests.payments import test_rails
from tests.payments.conftest import MCHID
from tests.payments.test_rails import OPENID, WX_NOTIFY, settings  # noqa: F401 - settings pointed at both fakes
from tests.web.conftest import HTML, csrf, page_login

client, buyer = test_rails.client, test_rails.buyer  # fixtures: a client with an IP, a buyer of a shop taking WeChat Pay

ONLY_AT_WECHAT = "LLP000000099999"


def _paid(client, buyer, fake) -> int:
    pid = buyer.pay(buyer.order())["payment_id"]
    headers, body = fake.pay(trade_no(pid), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    return pid


@pytest.fixture
def planted(client, db, buyer, fake, clock, merchant):
    """Three payments and a refund in Linli; WeChat Pay's bill leaves one payment out, says
    67.00 元 for another, and lists one Linli never heard of. The first run meets an outage."""
    pids = [_paid(client, buyer, fake) for _ in range(3)]
    with db.transaction() as s:
        payments.refund_payment(s, pids[0], 1800, "refund_case:1", clock())
    headers, body = fake.settle_refund(refund_no("refund_case:1"))
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    day = clock().astimezone(SHANGHAI).date()
    fake.make_bill(day.isoformat(), MCHID, leave_out=(trade_no(pids[1]),), amounts={trade_no(pids[2]): 6700}, extra=((ONLY_AT_WECHAT, 5000),))
    fake.faults.append("unavailable")
    jobs.run_due(db, clock.advance(days=1))  # the next morning at 10:00: WeChat Pay is down
    return day, pids


def _of(client, merchant, day: date, headers=None):
    return client.get(f"/api/v1/merchants/{merchant.id}/reconciliation", params={"date": day.isoformat()}, headers=headers or merchant.owner)


def test_reconciliation_lists_exactly_the_planted_differences_and_a_second_run_adds_nothing(client, db, merchant, clock, fake, planted):
    day, pids = planted
    first = _of(client, merchant, day).json()
    assert [(d["status"], d["error"]) for d in first["days"]] == [("failed", "payment.provider_unavailable")] and first["differences"] == []
    assert jobs.run_due(db, clock.advance(minutes=10))["payments.reconcile_bills"] == 0  # not again at once
    assert jobs.run_due(db, clock.advance(minutes=25))["payments.reconcile_bills"] == 1
    answer = _of(client, merchant, day).json()
    found = {(d["kind"], d["side"], d["subject"], d["reference"], d["provider_amount"], d["linli_amount"]) for d in answer["differences"]}
    assert found == {
        ("missing", "provider", "payment", ONLY_AT_WECHAT, 5000, None),
        ("missing", "linli", "payment", trade_no(pids[1]), None, 6800),
        ("amount", None, "payment", trade_no(pids[2]), 6700, 6800),
    }
    [d] = answer["days"]
    assert (d["status"], d["rows"], d["differences"], d["open"]) == ("done", 4, 3, 3)  # two payments, the invented one, the refund
    assert reconciliation.reconcile_day(db, merchant.id, "wechatpay", day, clock()) == "done"  # the day again
    asked = fake.seen.count(("GET", "/v3/bill/tradebill"))
    assert jobs.run_due(db, clock.advance(days=1))["payments.reconcile_bills"] == 1  # the next day (no money, no bill) only
    assert fake.seen.count(("GET", "/v3/bill/tradebill")) == asked + 1
    assert len(_of(client, merchant, day).json()["differences"]) == 3


def test_resolving_needs_a_note_and_the_finance_role(client, db, merchant, clock, planted):
    day, _ = planted
    jobs.run_due(db, clock.advance(minutes=31))
    for phone, role in (("13800000003", "finance"), ("13800000004", "operator")):
        client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": phone, "role": role}, headers=merchant.owner)
    finance, operator, stranger = login(client, "13800000003"), login(client, "13800000004"), login(client, "13700000009")
    did = _of(client, merchant, day, finance).json()["differences"][0]["id"]
    url = f"/api/v1/merchants/{merchant.id}/reconciliation/{did}/resolve"
    assert problem_code(_of(client, merchant, day, operator)) == "auth.role_forbidden"
    assert problem_code(_of(client, merchant, day, stranger)) == "merchant.not_found"
    assert problem_code(client.post(url, json={"note": "ok"}, headers=operator)) == "auth.role_forbidden"
    assert problem_code(client.post(url, json={"note": "   "}, headers=finance)) == "reconciliation.note_required"
    assert problem_code(client.post(url, json={}, headers=finance)) == "validation.invalid"
    assert problem_code(client.get(f"/api/v1/merchants/{merchant.id}/reconciliation", params={"date": "2026-13-01"}, headers=finance)) == "validation.invalid"
    assert problem_code(client.post(f"/api/v1/merchants/{merchant.id}/reconciliation/99999/resolve", json={"note": "x"}, headers=finance)) == "reconciliation.not_found"
    r = client.post(url, json={"note": "退款已线下处理"}, headers=finance)
    assert r.status_code == 200 and r.json()["note"] == "退款已线下处理" and r.json()["resolved_at"]
    assert problem_code(client.post(url, json={"note": "again"}, headers=merchant.owner)) == "reconciliation.already_resolved"
    [day_row] = _of(client, merchant, day, finance).json()["days"]
    assert (day_row["differences"], day_row["open"]) == (3, 2)
    open_now = client.get(f"/api/v1/merchants/{merchant.id}/reconciliation", headers=finance).json()["differences"]
    assert len(open_now) == 2 and did not in {d["id"] for d in open_now}


def test_the_reconciliation_page_lists_the_differences_in_yuan_and_resolves_without_javascript(client, db, merchant, clock, planted):
    day, pids = planted
    jobs.run_due(db, clock.advance(minutes=31))
    page_login(client, merchant.owner_phone, "console")
    page = client.get(f"/console/merchants/{merchant.id}/reconciliation", headers=HTML)
    assert page.status_code == 200 and "对账" in page.text and page.text.count('data-testid="difference"') == 3
    assert "¥67.00" in page.text and "¥68.00" in page.text and "渠道有、邻里无" in page.text and ONLY_AT_WECHAT in page.text
    did = _of(client, merchant, day).json()["differences"][0]["id"]
    action = f"/console/merchants/{merchant.id}/reconciliation/{did}/resolve"
    refused = client.post(action, data={"csrf_token": csrf(client), "note": "", "date": day.isoformat()}, headers=HTML)
    assert refused.status_code == 422 and "请写下处理说明" in refused.text
    done = client.post(action, data={"csrf_token": csrf(client), "note": "渠道补单", "date": day.isoformat()}, headers=HTML, follow_redirects=True)
    assert done.status_code == 200 and "渠道补单" in done.text and done.text.count('name="note"') == 2
