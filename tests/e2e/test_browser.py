"""Real headless Chromium through the pages: a member on a phone, an owner at a desk."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from tests.conftest import ADMIN
from tests.e2e.conftest import watch

pytestmark = pytest.mark.browser

OWNER = "13800000001"
PHONE_VIEWPORT = {"width": 390, "height": 844}
DESK_VIEWPORT = {"width": 1280, "height": 900}


def _merchant_with_communities(db, clock) -> tuple[int, int]:
    admin = Principal(0, ADMIN, True)
    with db.transaction() as s:
        merchant, _ = identity.create_merchant(s, admin, "优邻优选", OWNER, clock())
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.2741, 120.1551, clock())
        community.create_community(s, admin, merchant.id, "滨江花园", "杭州", 30.2100, 120.2100, clock())
        return merchant.id, home.id


def _log_in(page, base: str, path: str, phone: str) -> None:
    page.goto(base + path)
    page.locator("input[name=phone]").fill(phone)
    page.locator("form[action$='/login/code'] button[type=submit]").click()
    code = page.get_by_test_id("debug-code").inner_text().strip()
    assert len(code) == 6 and code.isdigit()
    page.locator("input[name=code]").fill(code)
    page.locator("form[action$='/login'] button[type=submit]").click()


def test_member_logs_in_on_a_phone_and_sets_profile(browser, live_server, db, clock, backend, console_errors):
    _, home_id = _merchant_with_communities(db, clock)
    context = browser.new_context(viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, live_server.url, "/m/", "13900001111")
        page.wait_for_url("**/m/me")
        assert page.locator("h1").first.inner_text() == "我的"
        page.get_by_label("昵称").fill("王阿姨")
        page.get_by_label("生日").fill("1968-03-08")
        page.get_by_label("我的小区").select_option(str(home_id))
        page.get_by_role("button", name="保存").click()
        page.get_by_text("已保存。").wait_for()  # HTMX swapped the profile in place
        assert page.get_by_test_id("nickname").inner_text() == "王阿姨"
        assert page.get_by_test_id("community").inner_text().strip() == "杭州 · 云顶华府"
        assert page.get_by_label("昵称").input_value() == "王阿姨"
        # Nothing is wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        page.screenshot(path=f"/tmp/linli-mobile-profile-{backend}.png", full_page=True)
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        member = identity.get_member(s, _member_id(s, "13900001111"))
        assert member.nickname == "王阿姨" and member.birthday.isoformat() == "1968-03-08"
        assert community.home_community(s, member.id).id == home_id


def test_owner_creates_a_community_and_a_pickup_point_in_the_console(browser, live_server, db, clock, backend, console_errors):
    merchant_id, _ = _merchant_with_communities(db, clock)
    context = browser.new_context(viewport=DESK_VIEWPORT, locale="zh-CN")
    page = context.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, live_server.url, "/console/", OWNER)
        page.wait_for_url("**/console/")
        page.get_by_role("link", name="优邻优选").click()
        page.wait_for_url(f"**/console/merchants/{merchant_id}")

        create = page.locator("details.create-community")
        create.locator("summary").click()
        form = create.locator("form")
        form.get_by_label("社区名称").fill("翠苑一区")
        form.get_by_label("城市").fill("杭州")
        form.get_by_label("纬度").fill("30.2905")
        form.get_by_label("经度").fill("120.1280")
        form.get_by_role("button", name="创建社区").click()
        page.wait_for_url(f"**/console/merchants/{merchant_id}#community-*")

        card = page.locator("article.community", has=page.get_by_role("heading", name="翠苑一区"))
        card.locator("details.card-forms > summary").click()
        point = card.locator("form[action$='/pickup-points']")
        point.get_by_label("自提点名称").fill("翠苑便利店")
        point.get_by_label("地址").fill("翠苑一区 3 幢底商")
        point.get_by_role("button", name="添加自提点").click()
        card.get_by_text("自提点已添加。").wait_for()  # HTMX re-rendered only this card
        assert "翠苑便利店" in card.locator("ul.points").inner_text()
        page.screenshot(path=f"/tmp/linli-console-{backend}.png", full_page=True)
        # After a reload it is still in the list.
        page.reload()
        assert "翠苑便利店" in page.locator("article.community", has=page.get_by_role("heading", name="翠苑一区")).inner_text()
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        owner = Principal(_member_id(s, OWNER), OWNER, False)
        created = [c for c in community.list_communities(s, owner, merchant_id) if c.name == "翠苑一区"]
        assert len(created) == 1
        assert [p.name for p in community.list_pickup_points(s, created[0].id)] == ["翠苑便利店"]


def _member_id(s, phone: str) -> int:
    return s.scalars(select(identity.Member.id).where(identity.Member.phone == phone)).one()
