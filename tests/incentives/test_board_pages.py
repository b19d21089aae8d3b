"""Leaderboard pages through httpx on SQLite and PostgreSQL: the member board (public: ranks,
nicknames and masked phones, never a whole phone; period and metric tabs; the community
filter; the viewer's own place), in Chinese and in English; the sharer centre's 我的榜单 with
the member's rank and score this week and this month, of the shop and of their community;
the shop page's card; the shop's honour roll and the console's honours section once a week
has been frozen."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from linli import jobs
from tests.incentives.board_helpers import shop_with_sales
from tests.web.conftest import HTML, page_login


def _flow(client, db, merchant, clock):
    shop, (a, b, c) = shop_with_sales(client, db, merchant, clock, "1360000004", ["berry2", "berry", "berry"])
    return shop, a, b, c


def _ranks(html: str) -> list[str]:
    return re.findall(r'data-testid="board-rank">(\d+)<', html)


def test_the_board_page_lists_ranks_with_masked_phones_and_the_viewer_s_place(client, db, merchant, clock, app):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    visitor = TestClient(app, raise_server_exceptions=False)
    html = visitor.get(f"/m/boards/{mid}", headers=HTML).text
    assert "分享榜" in html and "推荐成交" in html and "本周" in html
    assert _ranks(html) == ["1", "2", "2"]
    assert "136****0040" in html and "13600000040" not in html and "¥128.00" in html
    assert 'data-testid="my-standing"' not in html  # nobody logged in
    assert f'href="/m/boards/{mid}?period=month&metric=gmv"' in html and "云顶华府" in html  # the month tab and the community filter
    assert _ranks(visitor.get(f"/m/boards/{mid}?period=month&community={shop.community_id}", headers=HTML).text) == ["1", "2", "2"]
    assert _ranks(visitor.get(f"/m/boards/{mid}?metric=referrals", headers=HTML).text) == []
    page_login(visitor, c.phone)
    html = visitor.get(f"/m/boards/{mid}", headers=HTML).text
    assert "第 2 名 · ¥68.00" in re.sub(r"\s+", " ", html) and "board-row is-me" in html
    visitor.cookies.set("lang", "en")
    html = visitor.get(f"/m/boards/{mid}", headers=HTML).text
    assert "Sharing leaderboard" in html and "No. 2" in html and "Referred sales" in html


def test_the_sharer_centre_shows_my_places_this_week_and_this_month_in_the_shop_and_my_community(client, db, merchant, clock, app):
    shop, a, b, c = _flow(client, db, merchant, clock)
    me = TestClient(app, raise_server_exceptions=False)
    page_login(me, b.phone)
    html = me.get(f"/m/share/{shop.merchant_id}", headers=HTML).text
    section = html[html.index('data-testid="my-boards"'):]
    section = section[:section.index("</section>")]
    cell = lambda period, metric: re.sub(r"<[^>]+>|\s+", " ", section.split(f'data-testid="standing-{period}-{metric}">')[1].split("</td>")[0]).split()  # noqa: E731
    assert cell("week", "gmv") == ["第", "2", "名", "¥68.00"] and cell("month", "gmv") == ["第", "2", "名", "¥68.00"]
    assert cell("week", "referrals") == ["暂未上榜"]
    assert 'data-testid="standings"' in section and section.count('data-testid="standings"') == 1  # b has no home community: the shop's only
    assert f'href="/m/boards/{shop.merchant_id}"' in section
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}, headers=a.headers).status_code == 200
    page_login(me, a.phone)
    html = me.get(f"/m/share/{shop.merchant_id}", headers=HTML).text
    tables = html.split('data-testid="standings"')[1:]
    assert len(tables) == 2 and f'data-community="{shop.community_id}"' in tables[1] and "云顶华府" in html
    for table in tables:  # first in the shop and in its community, this week and this month
        assert re.sub(r"<[^>]+>|\s+", " ", table.split('data-testid="standing-month-gmv">')[1].split("</td>")[0]).split() == ["第", "1", "名", "¥128.00"]


def test_the_shop_page_links_the_board_and_the_honour_roll_and_console_list_frozen_honours(client, db, merchant, clock, app):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    visitor = TestClient(app, raise_server_exceptions=False)
    html = visitor.get(f"/m/shop/{mid}", headers=HTML).text
    assert 'data-testid="shop-board"' in html and f'href="/m/boards/{mid}"' in html and f'href="/m/honours/{mid}"' in html
    assert _ranks(html) == ["1", "2", "2"]
    assert 'data-testid="no-honours"' in visitor.get(f"/m/honours/{mid}", headers=HTML).text
    clock.advance(hours=16)  # the week closes; the job freezes it
    jobs.run_due(db, clock())
    html = visitor.get(f"/m/honours/{mid}", headers=HTML).text
    assert "周度分享之星" in html and "11-16 – 11-22" in html and _ranks(html) == ["1", "2", "2"] and "136****0041" in html
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    html = console.get(f"/console/merchants/{mid}", headers=HTML).text
    assert 'data-testid="console-honour"' in html and "周度分享之星" in html and _ranks(html) == ["1", "2", "2"]
