import io

from PIL import Image

from tests.conftest import login, problem_code


def _png(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (220, 40, 60)).save(buf, format="PNG")
    return buf.getvalue()


def _product(client, merchant, **over):
    body = {"name": "黄金奶油草莓", "category": "水果", "skus": [{"name": "1盒", "price": 6800, "stock": 100}]}
    body.update(over)
    return client.post(f"/api/v1/merchants/{merchant.id}/products", json=body, headers=merchant.owner)


def test_operator_creates_product_members_browse_it(client, merchant):
    r = _product(client, merchant, description="丹东99草莓，当天现摘", limit_per_member=5)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["skus"][0]["price"] == 6800 and p["skus"][0]["stock"] == 100 and p["limit_per_member"] == 5
    listed = client.get("/api/v1/products", params={"merchant_id": merchant.id}).json()
    assert [x["id"] for x in listed] == [p["id"]]
    assert client.get(f"/api/v1/products/{p['id']}").json()["name"] == "黄金奶油草莓"
    # Archived products disappear for members but stay in the console.
    client.patch(f"/api/v1/merchants/{merchant.id}/products/{p['id']}", json={"status": "archived"}, headers=merchant.owner)
    assert client.get("/api/v1/products", params={"merchant_id": merchant.id}).json() == []
    assert client.get(f"/api/v1/products/{p['id']}").status_code == 404
    assert len(client.get(f"/api/v1/merchants/{merchant.id}/products", headers=merchant.owner).json()) == 1


def test_bad_products_refused(client, merchant):
    cases = [
        ({"skus": []}, "validation.invalid"),
        ({"skus": [{"name": "1盒", "price": -1, "stock": 1}]}, "validation.invalid"),
        ({"skus": [{"name": "1盒", "price": 1.5, "stock": 1}]}, "validation.invalid"),
        ({"skus": [{"name": "1盒", "price": 100, "stock": 1}, {"name": "1盒", "price": 200, "stock": 1}]}, "catalog.sku_duplicate"),
        ({"name": "   "}, "catalog.name_invalid"),
    ]
    for over, code in cases:
        r = _product(client, merchant, **over)
        assert r.status_code == 422 and problem_code(r) == code, (over, r.text)
    assert client.get(f"/api/v1/merchants/{merchant.id}/products", headers=merchant.owner).json() == []


def test_roles_and_tenants(client, merchant, admin):
    client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13800000003", "role": "finance"}, headers=merchant.owner)
    finance = login(client, "13800000003")
    r = _product(client, merchant)
    pid = r.json()["id"]
    r = client.post(f"/api/v1/merchants/{merchant.id}/products", json={"name": "x", "category": "y", "skus": [{"name": "z", "price": 1, "stock": 1}]}, headers=finance)
    assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    other = client.post("/api/v1/merchants", json={"name": "别家店", "owner_phone": "13800000009"}, headers=admin).json()
    other_owner = login(client, "13800000009")
    assert client.get(f"/api/v1/merchants/{merchant.id}/products", headers=other_owner).status_code == 404
    r = client.patch(f"/api/v1/merchants/{other['id']}/products/{pid}", json={"name": "偷改"}, headers=other_owner)
    assert r.status_code == 404
    assert client.get(f"/api/v1/products/{pid}").json()["name"] == "黄金奶油草莓"


def test_stock_changes_never_go_below_zero(client, merchant):
    sku = _product(client, merchant).json()["skus"][0]
    url = f"/api/v1/merchants/{merchant.id}/skus/{sku['id']}"
    assert client.patch(url, json={"add_stock": 50}, headers=merchant.owner).json()["stock"] == 150
    assert client.patch(url, json={"add_stock": -150}, headers=merchant.owner).json()["stock"] == 0
    r = client.patch(url, json={"add_stock": -1}, headers=merchant.owner)
    assert r.status_code == 409 and problem_code(r) == "catalog.stock_insufficient"
    assert client.patch(url, json={"price": 5990}, headers=merchant.owner).json()["price"] == 5990


def test_image_upload_checks_the_picture(client, merchant, settings):
    pid = _product(client, merchant).json()["id"]
    url = f"/api/v1/merchants/{merchant.id}/products/{pid}/image"
    r = client.post(url, files={"file": ("berry.png", _png(), "image/png")}, headers=merchant.owner)
    assert r.status_code == 200, r.text
    image_url = r.json()["image_url"]
    assert image_url.startswith("/media/products/") and image_url.endswith(".png")
    got = client.get(image_url)
    assert got.status_code == 200 and got.content[:8] == b"\x89PNG\r\n\x1a\n"
    # A script named .png, and an oversized file, are refused.
    r = client.post(url, files={"file": ("evil.png", b"<script>alert(1)</script>", "image/png")}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "media.type"
    r = client.post(url, files={"file": ("big.png", b"\x89PNG" + b"0" * (5 * 1024 * 1024 + 10), "image/png")}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "media.too_large"
    assert client.get(f"/api/v1/products/{pid}").json()["image_url"] == image_url
