"""Bad leaderboard and honour queries in one table: each is a problem+json with its stable
code (422 for a value that cannot be read, 404 for what does not exist), never a 500; the
member pages answer the same codes in the error page."""

from __future__ import annotations

import pytest

from tests.conftest import problem_code
from tests.orders.helpers import make_shop
from tests.web.conftest import HTML

BOARD = [
    ("an unknown period", {"period": "day"}, 422, "leaderboard.period_invalid"),
    ("an empty period", {"period": ""}, 422, "leaderboard.period_invalid"),
    ("a NUL in the period", {"period": "week\x00"}, 422, "leaderboard.period_invalid"),
    ("a long period", {"period": "w" * 100}, 422, "validation.invalid"),
    ("an unknown metric", {"metric": "likes"}, 422, "leaderboard.metric_invalid"),
    ("a word for a time", {"at": "yesterday"}, 422, "leaderboard.at_invalid"),
    ("a time without its offset", {"at": "2026-11-22T10:00:00"}, 422, "leaderboard.at_invalid"),
    ("a date alone", {"at": "2026-11-22"}, 422, "leaderboard.at_invalid"),
    ("a far future", {"at": "9999-12-31T23:59:59+14:00"}, 422, "leaderboard.at_out_of_range"),
    ("a far past", {"at": "0001-01-01T00:00:00-12:00"}, 422, "leaderboard.at_out_of_range"),
    ("2101 in Shanghai", {"at": "2100-12-31T20:00:00+00:00"}, 422, "leaderboard.at_out_of_range"),
    ("a community id of 0", {"community_id": "0"}, 422, "validation.invalid"),
    ("a community id past BIGINT", {"community_id": str(2**63)}, 422, "validation.invalid"),
    ("a community that does not exist", {"community_id": "999999"}, 404, "community.not_found"),
]


@pytest.mark.parametrize(("label", "params", "status", "code"), BOARD, ids=[c[0] for c in BOARD])
def test_bad_leaderboard_queries_are_problems_with_stable_codes(client, db, merchant, label, params, status, code):
    shop = make_shop(client, merchant)
    r = client.get(f"/api/v1/merchants/{shop.merchant_id}/leaderboards", params=params)
    assert r.status_code == status, r.text
    assert problem_code(r) == code


def test_another_shop_s_community_an_unknown_shop_and_bad_honour_queries(client, db, merchant, admin):
    shop = make_shop(client, merchant)
    other = client.post("/api/v1/merchants", json={"name": "隔壁鲜果", "owner_phone": "13800000009"}, headers=admin).json()
    r = client.get(f"/api/v1/merchants/{other['id']}/leaderboards", params={"community_id": shop.community_id})
    assert (r.status_code, problem_code(r)) == (404, "community.not_found")
    for path in ("leaderboards", "honours"):
        r = client.get(f"/api/v1/merchants/999999/{path}")
        assert (r.status_code, problem_code(r)) == (404, "merchant.not_found")
    cases = [({"period": "year"}, 422, "leaderboard.period_invalid"), ({"at": "soon"}, 422, "leaderboard.at_invalid"),
             ({"at": "2026-11-22T10:00:00+08:00"}, 404, "honours.not_closed"), ({"period": "month"}, 404, "honours.not_frozen")]
    for params, status, code in cases:
        r = client.get(f"/api/v1/merchants/{shop.merchant_id}/honours", params=params)
        assert (r.status_code, problem_code(r)) == (status, code), params


def test_the_board_page_answers_bad_queries_with_the_error_page(client, db, merchant):
    shop = make_shop(client, merchant)
    for params, status, code in (({"period": "day"}, 422, "leaderboard.period_invalid"), ({"metric": "x"}, 422, "leaderboard.metric_invalid"),
                                 ({"community": "999999"}, 404, "community.not_found"), ({"community": "abc"}, 404, "http.not_found")):
        r = client.get(f"/m/boards/{shop.merchant_id}", params=params, headers=HTML)
        assert r.status_code == status, (params, r.text[:300])
        assert f'data-code="{code}"' in r.text
    assert client.get("/m/boards/999999", headers=HTML).status_code == 404
    assert client.get("/m/honours/999999", headers=HTML).status_code == 404
