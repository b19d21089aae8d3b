"""The console's risk rule editor through httpx: every rule in plain words with its switch,
score and thresholds, saving new versions and the history, refusals shown on their field
(422, nothing saved), and who may open it."""

from __future__ import annotations

import html as html_lib
import re

from sqlalchemy import func, select

from linli.risk.models import RiskRuleSet
from linli.risk.rule_set import SPEC
from tests.web.conftest import HTML, csrf, page_login


def _url(mid: int) -> str:
    return f"/console/merchants/{mid}/risk/rules"


def _versions(db, mid: int) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(RiskRuleSet).where(RiskRuleSet.merchant_id == mid))


def _form(client, **changes) -> dict[str, str]:
    """The editor's fields as a browser posts the defaults (a switch that is off is absent)."""
    values = {k.name: ("1" if k.default else None) if isinstance(k.default, bool) else str(k.default) for k in SPEC}
    values.update(changes)
    return {"csrf_token": csrf(client), **{k: v for k, v in values.items() if v is not None}}


def _field_error(html: str) -> tuple[str, str]:
    m = re.search(r'data-testid="field-error" data-field="([^"]+)">([^<]*)<', html)
    assert m, "no field error in the page"
    return m.group(1), html_lib.unescape(m.group(2).strip())


def _testid(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert m, f"{name} not in page"
    return m.group(1).strip()


def test_the_editor_shows_every_rule_in_plain_words_with_its_thresholds(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    home = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert 'id="risk"' in home and f'href="{_url(merchant.id)}"' in home and "风控" in home
    r = client.get(_url(merchant.id), headers=HTML)
    assert r.status_code == 200
    page = r.text
    assert "自我推荐：买家与受益人共用手机号、设备、支付账户或地址 → 该受益人本单不得佣金。" in page
    assert "跨区引流：自提点或收货地址超出团长所在小区此距离 → 该单不计团长佣金。" in page
    assert _testid(page, "rules-version") == "默认规则（尚未保存过）"
    for k in SPEC:
        if isinstance(k.default, bool):
            assert re.search(rf'name="{k.name}" value="1" checked', page), k.name
        else:
            assert f'name="{k.name}" value="{k.default}"' in page, k.name
    assert "= 30%" in page  # the refund rate in bp, shown as a percentage
    assert "<span class=\"hint\">2 – 100</span>" in page  # each threshold with its bounds
    # What each rule's score leads to on its own, with the thresholds in force.
    assert re.findall(r'data-testid="alone">([^<]*)<', page) == [f"按当前版本，仅触发这一条规则即：{o}" for o in ("拦截", "冻结", "复核", "冻结", "复核")]


def test_saving_makes_versions_and_the_history_says_who_changed_what(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    url = _url(merchant.id)
    r = client.post(url, data=_form(client, velocity_per_hour="8", cluster_enabled=None), headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    page = client.get(f"{url}?saved=1", headers=HTML).text
    assert "已保存为第 1 版" in page and 'name="velocity_per_hour" value="8"' in page
    assert not re.search(r'name="cluster_enabled" value="1" checked', page)
    r = client.post(url, data=_form(client, velocity_per_hour="8", cluster_enabled=None, hold_at="60"), headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and _versions(db, merchant.id) == 2
    page = client.get(url, headers=HTML).text
    versions = re.findall(r'data-testid="history-version" data-version="(\d+)"', page)
    changes = [c.strip() for c in re.findall(r'data-testid="history-change">([^<]*)<', page)]
    assert versions == ["2", "1"]
    assert changes == ["冻结起点（分）：70 → 60", "设备/地址聚集 · 开启：开 → 关", "下单频率 · 每小时订单超过（单）：5 → 8"]
    assert "邻居0001 138****0001" in page  # who saved it
    assert _testid(page, "rules-version").startswith("第 2 版")
    client.cookies.set("lang", "en")
    page = client.get(url, headers=HTML).text
    assert "Self-referral: The buyer shares a phone number, device, payer account or address with a beneficiary" in page
    assert "Cluster · On: on → off" in page and "Velocity · Orders an hour, more than: 5 → 8" in page


def test_refusals_come_back_on_their_field_and_save_nothing(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    url = _url(merchant.id)
    cases = [
        ({"velocity_per_hour": "五"}, "velocity_per_hour"),
        ({"velocity_per_hour": "1.5"}, "velocity_per_hour"),
        ({"velocity_per_hour": ""}, "velocity_per_hour"),
        ({"velocity_per_hour": "-3"}, "velocity_per_hour"),
        ({"cluster_min_members": "1"}, "cluster_min_members"),
        ({"sla_days": "99999999999999"}, "sla_days"),
        ({"hold_at": "100"}, "hold_at"),
        ({"review_at": "80"}, "hold_at"),
    ]
    for changes, field in cases:
        r = client.post(url, data=_form(client, **changes), headers=HTML)
        assert r.status_code == 422, (changes, r.text[:300])
        got, message = _field_error(r.text)
        assert got == field and message, (changes, got)
        assert f'name="{next(iter(changes))}" value="{next(iter(changes.values()))[:12]}"' in r.text  # what was typed stays
    r = client.post(url, data=_form(client, cluster_min_members="1"), headers=HTML)
    assert _field_error(r.text)[1] == "设备/地址聚集 · 同一设备或地址上的会员至少（人）：请输入 2 到 100 之间的整数。"
    assert re.search(r'name="cluster_min_members" value="1" inputmode="numeric" maxlength="9" aria-invalid="true"', r.text)
    r = client.post(url, data=_form(client, velocity_per_hour="五"), headers=HTML)
    assert _field_error(r.text)[1] == "下单频率 · 每小时订单超过（单）：请输入 1 到 10000 之间的整数。"
    r = client.post(url, data=_form(client, hold_at="100"), headers=HTML)
    assert _field_error(r.text)[1] == "处置分值须保持顺序：复核 ≤ 冻结 < 拦截。"
    assert len(re.findall(r'name="(?:review|hold|block)_at" value="\d+" inputmode="numeric" maxlength="9" aria-invalid="true"', r.text)) == 3
    # A NUL character is refused before any handler runs (422), never a 500.
    r = client.post(url, data=_form(client, velocity_per_hour="5\x00"), headers=HTML)
    assert r.status_code == 422
    assert _versions(db, merchant.id) == 0
    client.cookies.set("lang", "en")
    r = client.post(url, data=_form(client, cluster_min_members="1"), headers=HTML)
    assert _field_error(r.text)[1] == "Cluster · Members on one device or address, at least: enter a whole number from 2 to 100."


def test_only_finance_staff_and_the_owner_open_it(client, db, merchant):
    mid = merchant.id
    for phone, role in (("13700000001", "finance"), ("13700000002", "operator")):
        assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": phone, "role": role}, headers=merchant.owner).status_code == 201
    page_login(client, "13700000001", "console")
    assert client.get(_url(mid), headers=HTML).status_code == 200
    assert client.post(_url(mid), data=_form(client, sla_days="5"), headers=HTML, follow_redirects=False).status_code == 303
    page_login(client, "13700000002", "console")
    assert client.get(_url(mid), headers=HTML).status_code == 403
    assert 'id="risk"' not in client.get(f"/console/merchants/{mid}", headers=HTML).text
    assert client.post(_url(mid), data=_form(client, sla_days="3"), headers=HTML).status_code == 403
    assert client.post(_url(mid), data=_form(client, sla_days="x"), headers=HTML).status_code == 403
    page_login(client, "13700000003", "console")  # not staff
    assert client.get(_url(mid), headers=HTML).status_code == 404
    assert client.post(_url(mid), data=_form(client, sla_days="3"), headers=HTML).status_code == 404
    r = client.post(_url(mid), data={**_form(client, sla_days="3"), "csrf_token": "forged"}, headers=HTML)
    assert r.status_code == 403
    assert _versions(db, mid) == 1
