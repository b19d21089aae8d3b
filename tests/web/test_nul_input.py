"""A NUL character anywhere in a page's form or query is refused with an error page (422,
``input.nul_character``), never a 500 from PostgreSQL, which cannot store it, and nothing is
written — on every page, not only the ones whose fields check for it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli.incentives.models import ReferralProgramme
from tests.web.conftest import HTML, csrf, page_login


def test_a_nul_in_a_console_form_or_a_page_query_is_an_error_page_and_writes_nothing(client, db, merchant, app):
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/referral-programmes"
    form = {"csrf_token": csrf(console), "name": "老王\x00鸡蛋", "starts_at": "2026-11-22", "ends_at": "2026-12-22", "min_paid": "20", "window_days": "30",
            "monthly_cap": "20", "inviter_kind": "points", "inviter_amount": "300"}
    r = console.post(url, data=form, headers=HTML)
    assert r.status_code == 422 and "无法保存的字符" in r.text
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ReferralProgramme)) == 0
    for path in (f"/console/merchants/{merchant.id}/orders?status=%00", f"/m/boards/{merchant.id}?period=week%00"):
        r = console.get(path, headers=HTML)
        assert r.status_code == 422 and "无法保存的字符" in r.text, path
