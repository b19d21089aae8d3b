"""Every page address with an id in its path refuses ids outside 1 .. 2^63-1 with the error page.

The routes are read from the app itself, so a page added later is covered without touching
this file. An id the database cannot hold once reached the driver and overflowed (a 500 on
``/m/orders/99999999999999999999``); now the path is validated like the API's ``Id`` and the
answer is the HTML "page not found" with the stable code ``http.not_found``.
"""

from __future__ import annotations

import re
import tempfile

import pytest

from linli.config import Settings
from linli.web.app import create_app
from tests.routes import api_routes
from tests.web.conftest import HTML, csrf, page_login

BAD_IDS = ["99999999999999999999", str(2**63), "0", "-1"]
TEXT_VALUES = {"action": "approve"}  # path parameters that are not ids


def _page_routes() -> list[tuple[str, str, list[str]]]:
    media = tempfile.mkdtemp(prefix="linli-routes-")
    app = create_app(Settings(env="test", database_url=f"sqlite:///{media}/routes.db", media_dir=media, plugins="tests.plugin"), dispatcher=False)
    out = []
    for path, route in api_routes(app):
        ids = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        if ids and not path.startswith("/api/"):
            out += [(method, path, ids) for method in sorted(route.methods)]
    return out


ROUTES = _page_routes()


def test_the_page_routes_with_ids_are_found():
    paths = {path for _, path, _ in ROUTES}
    assert {"/m/orders/{oid}", "/m/teams/{team_id}", "/console/merchants/{mid}/orders/{oid}"} <= paths


@pytest.mark.parametrize(("method", "path", "ids"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_ids_out_of_range_answer_the_not_found_page(client, method, path, ids):
    page_login(client, "13700000001")
    token = csrf(client)
    for bad in BAD_IDS:
        url = re.sub(r"\{(\w+)\}", lambda m: bad if m.group(1) in ids else TEXT_VALUES.get(m.group(1), "x"), path)
        r = client.request(method, url, headers=HTML, data={"csrf_token": token} if method == "POST" else None, follow_redirects=False)
        assert r.status_code == 404, (url, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html") and 'data-code="http.not_found"' in r.text, url
