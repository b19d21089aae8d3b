"""Helpers for page tests: log in through the HTML forms, read the page's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

HTML = {"accept": "text/html"}


def csrf(client: TestClient) -> str:
    """The double-submit token (the cookie a page GET sets)."""
    if not client.cookies.get("linli_csrf"):
        client.get("/", headers=HTML)
    return client.cookies["linli_csrf"]


def debug_code(html: str) -> str:
    m = re.search(r'data-testid="debug-code">(\d{6})<', html)
    assert m, html
    return m.group(1)


def page_login(client: TestClient, phone: str, area: str = "m"):
    """Log in through /m/login or /console/login; returns the final response (a 303)."""
    client.get(f"/{area}/login", headers=HTML)
    token = csrf(client)
    r = client.post(f"/{area}/login/code", data={"phone": phone, "csrf_token": token}, headers=HTML)
    assert r.status_code == 200, r.text
    r = client.post(f"/{area}/login", data={"phone": phone, "code": debug_code(r.text), "csrf_token": token}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def errors(html: str) -> list[str]:
    return re.findall(r'class="msg msg-error"[^>]*>([^<]*)<', html)
