"""The console's risk desk through httpx: real cases (a device cluster, a self-referral) on
the desk in the order staff work them, one case with its decisions in plain words, the
decision form (a reason required, a false positive only released, refusals in place, a
double submit deciding once), a closed case saying who decided what and why, English,
and who may open it."""

from __future__ import annotations

import html as html_lib
import re

from tests.orders.helpers import buy, make_shop
from tests.risk.test_cases import appoint, earnings, invitee, open_cases, sharer_with_available
from tests.web.conftest import HTML, csrf, errors, page_login

OWNER_NAME = "邻居0001 138****0001"  # the owner, as the desk names who decided


def _desk(mid: int, status: str | None = None) -> str:
    return f"/console/merchants/{mid}/risk/cases" + (f"?status={status}" if status else "")


def _case_url(mid: int, cid: int) -> str:
    return f"/console/merchants/{mid}/risk/cases/{cid}"


def _texts(html: str, testid: str) -> list[str]:
    """The text of each element with this test id (tags dropped, spaces folded)."""
    found = re.findall(rf'data-testid="{testid}"[^>]*>(.*?)</(?:td|dd|span|a|p)>', html, re.S)
    return [" ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", f)).split()) for f in found]


def _field_error(html: str) -> tuple[str, str]:
    m = re.search(r'data-testid="field-error" data-field="([^"]+)">([^<]*)<', html)
    assert m, "no field error in the page"
    return m.group(1), html_lib.unescape(m.group(2).strip())


def cluster_case(client, db, merchant, clock) -> tuple[dict, dict, dict]:
    """A sharer with ¥13.60 available, then three invitees on one device: a hold case
    holding it. Returns (shop, the sharer's API headers, the case as the API shows it)."""
    shop, s_h, _, code, _ = sharer_with_available(client, db, merchant, clock)
    for n in (3, 4, 5):
        invitee(client, db, merchant, f"1370000000{n}", "farm-device-0001", code)
    [case] = open_cases(client, merchant)
    assert case["level"] == "hold" and case["held"]["held"] == 1360
    return shop, s_h, case


def _decide(client, mid: int, cid: int, **fields) -> object:
    return client.post(f"{_case_url(mid, cid)}/decide", data={"csrf_token": csrf(client), **fields}, headers=HTML, follow_redirects=False)


def test_the_desk_lists_cases_overdue_first_then_block_before_hold_with_held_money_and_masked_signals(client, db, merchant, clock):
    shop, s_h, held = cluster_case(client, db, merchant, clock)
    clock.advance(days=4)
    a_h, a_id, code = appoint(client, merchant, "13700000021", "phone-of-a-0021")
    alt = invitee(client, db, merchant, "13700000029", "phone-of-a-0021", code)  # the sharer's own device
    o = buy(client, db, alt, shop, [(shop.skus["apple"], 1)])
    blocked = next(c for c in open_cases(client, merchant) if c["member_id"] == a_id)
    assert blocked["level"] == "block"
    page_login(client, merchant.owner_phone, "console")
    home = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert f'href="{_desk(merchant.id)}"' in home and _texts(home, "cases-open") == ["2"]

    page = client.get(_desk(merchant.id), headers=HTML).text
    assert re.findall(r'data-testid="case-row" data-case="(\d+)"', page) == [str(blocked["id"]), str(held["id"])]  # block before hold
    assert _texts(page, "case-level") == ["拦截", "冻结"]
    assert _texts(page, "case-rules")[1] == "设备/地址聚集"
    [signal] = held["signals"]
    assert signal["kind"] == "device" and _texts(page, "case-signals")[1] == f"设备 {signal['value']}"
    assert _texts(page, "case-held") == ["¥0.00", "¥13.60"]
    assert _texts(page, "case-sharer")[1] == "邻居0001 137****0001"
    assert "13700000001" not in page  # phones masked
    assert f'href="{_case_url(merchant.id, held["id"])}"' in page
    assert 'aria-current="page">案件<' in page and 'href="/console/merchants/%d/risk/rules"' % merchant.id in page

    clock.advance(days=3, minutes=1)  # the cluster case is past its 7-day SLA, the other not
    page = client.get(_desk(merchant.id), headers=HTML).text
    assert re.findall(r'data-testid="case-row" data-case="(\d+)"', page) == [str(held["id"]), str(blocked["id"])]
    assert _texts(page, "overdue") == ["逾期"]
    home = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert _texts(home, "cases-overdue") == ["1 件逾期"]

    # The self-referral case: each decision in plain words, the order one linking to the order.
    page = client.get(_case_url(merchant.id, blocked["id"]), headers=HTML).text
    assert f'href="/console/merchants/{merchant.id}/orders/{o["id"]}"' in page
    evidence = _texts(page, "decision-evidence")
    device = blocked["signals"][0]["value"]
    assert evidence == [f"与新会员 137****0029 共用 设备 {device}", f"与买家 137****0029 共用 设备 {device} 本单不得佣金"]
    order_page = client.get(f"/console/merchants/{merchant.id}/orders/{o['id']}", headers=HTML).text
    assert "自我推荐：与买家共用手机号、设备、支付账户或地址" in order_page and f"案件 #{blocked['id']}" in order_page


def test_staff_release_a_case_with_a_reason_and_the_sharers_balance_moves_back(client, db, merchant, clock):
    shop, s_h, case = cluster_case(client, db, merchant, clock)
    mid, cid = merchant.id, case["id"]
    page_login(client, merchant.owner_phone, "console")
    page = client.get(_case_url(mid, cid), headers=HTML).text
    assert _texts(page, "case-level") == ["冻结"] and _texts(page, "case-score") == ["70"]
    assert _texts(page, "held") == ["¥13.60"] and _texts(page, "case-sharer") == ["邻居0001 137****0001"]
    assert _texts(page, "decision-evidence") == [f"3 个账号共用 设备 {case['signals'][0]['value']}"]
    assert 'data-testid="decide-form"' in page and "放行" in page and "追回" in page and "封禁" in page

    r = _decide(client, mid, cid, outcome="release", reason="   ")
    assert r.status_code == 422 and _field_error(r.text) == ("reason", "请写明处理原因。")
    assert 'name="outcome" value="release" checked' in r.text
    r = _decide(client, mid, cid, outcome="claw_back", reason="核实", false_positive="1")
    assert r.status_code == 422 and _field_error(r.text)[0] == "false_positive"
    assert "误报只能放行" in _field_error(r.text)[1] and ">核实</textarea>" in r.text
    r = _decide(client, mid, cid, outcome="release", reason="核实\x00")
    assert r.status_code == 422 and "<html" in r.text.lower()
    assert earnings(client, s_h, mid)["available"] == 0 and open_cases(client, merchant)[0]["id"] == cid  # nothing decided

    form = {"outcome": "release", "reason": "一家三口共用一台平板，已电话核实", "idem": "form-1"}
    r = _decide(client, mid, cid, **form)
    assert r.status_code == 303 and r.headers["location"] == f"{_case_url(mid, cid)}?decided=1"
    again = _decide(client, mid, cid, **form)  # a double submit of the same form decides once
    assert again.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "已放行：¥13.60 重新可供分享官提现。" in page
    e = earnings(client, s_h, mid)
    assert (e["available"], e["held"]) == (1360, 0)
    assert 'data-testid="decide-form"' not in page
    assert _texts(page, "case-outcome") == ["放行"] and _texts(page, "case-amount") == ["¥13.60"] and _texts(page, "case-decided-by") == [OWNER_NAME]
    assert _texts(page, "case-reason") == ["一家三口共用一台平板，已电话核实"]
    # Another decision on the closed case is refused in place.
    r = _decide(client, mid, cid, outcome="claw_back", reason="再看看")
    assert r.status_code == 409 and errors(r.text) == ["该案件已处理过。"] and 'data-testid="decide-form"' not in r.text
    assert earnings(client, s_h, mid)["available"] == 1360
    desk = client.get(_desk(mid, "closed"), headers=HTML).text
    assert re.findall(r'data-testid="case-row" data-case="(\d+)"', desk) == [str(cid)] and _texts(desk, "case-outcome") == ["放行"]
    assert 'data-testid="case-row"' not in client.get(_desk(mid), headers=HTML).text


def test_claw_back_on_the_page_says_what_it_took(client, db, merchant, clock):
    shop, s_h, case = cluster_case(client, db, merchant, clock)
    page_login(client, merchant.owner_phone, "console")
    r = _decide(client, merchant.id, case["id"], outcome="claw_back", reason="刷单")
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "已追回 ¥13.60。" in page and _texts(page, "case-reason") == ["刷单"]
    assert _texts(page, "case-outcome") == ["追回"] and _texts(page, "case-amount") == ["¥13.60"]
    assert earnings(client, s_h, merchant.id)["available"] == 0


def test_in_english_the_desk_and_the_case_speak_english(client, db, merchant, clock):
    shop, s_h, case = cluster_case(client, db, merchant, clock)
    page_login(client, merchant.owner_phone, "console")
    client.cookies.set("lang", "en")
    page = client.get(_desk(merchant.id), headers=HTML).text
    assert _texts(page, "case-level") == ["Hold"] and _texts(page, "case-rules") == ["Cluster"]
    assert _texts(page, "case-signals") == [f"device {case['signals'][0]['value']}"]
    assert ">Cases<" in page and "Rules that fired" in page
    page = client.get(_case_url(merchant.id, case["id"]), headers=HTML).text
    assert _texts(page, "decision-evidence") == [f"3 accounts on device {case['signals'][0]['value']}"]
    assert "Release" in page and "Claw back" in page and "Suspend the sharer" in page
    r = _decide(client, merchant.id, case["id"], outcome="release", reason="")
    assert r.status_code == 422 and _field_error(r.text) == ("reason", "Say why: a decision needs a reason.")


def test_only_finance_staff_and_the_owner_open_the_desk(client, db, merchant, clock):
    shop, s_h, case = cluster_case(client, db, merchant, clock)
    mid = merchant.id
    for phone, role in (("13600000001", "finance"), ("13600000002", "operator")):
        assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": phone, "role": role}, headers=merchant.owner).status_code == 201
    page_login(client, "13600000001", "console")
    assert client.get(_desk(mid), headers=HTML).status_code == 200
    assert client.get(_case_url(mid, case["id"]), headers=HTML).status_code == 200
    page_login(client, "13600000002", "console")
    for url in (_desk(mid), _desk(mid, "closed"), _case_url(mid, case["id"])):
        r = client.get(url, headers=HTML)
        assert r.status_code == 403 and 'data-code="auth.role_forbidden"' in r.text, url
    assert _decide(client, mid, case["id"], outcome="release", reason="x").status_code == 403
    assert 'data-testid="cases-open"' not in client.get(f"/console/merchants/{mid}", headers=HTML).text
    page_login(client, "13600000003", "console")  # not staff
    assert client.get(_desk(mid), headers=HTML).status_code == 404
    page_login(client, merchant.owner_phone, "console")
    assert client.get(_case_url(mid, case["id"] + 1000), headers=HTML).status_code == 404
    assert open_cases(client, merchant)[0]["status"] == "open"


def test_a_velocity_review_says_how_many_orders_and_holds_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    _, _, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    for n in range(2, 8):  # six new members, each on their own phone, within the hour
        buy(client, db, invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code), shop, [(shop.skus["apple"], 1)])
    [case] = open_cases(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    page = client.get(_case_url(merchant.id, case["id"]), headers=HTML).text
    assert _texts(page, "case-level") == ["待复核"] and _texts(page, "held") == ["¥0.00"]
    assert _texts(page, "decision-evidence") == ["新会员订单：近 1 小时 6 单（上限 5），近 24 小时 6 单（上限 20）"]
    assert "待复核的案件不冻结佣金。" in page
