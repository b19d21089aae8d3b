"""The order settings: one spec read by the table, the API schema and the service, which
refuses an out-of-bounds value itself (not only the API or the page in front of it)."""

from __future__ import annotations

import pytest

from linli.errors import Invalid
from linli.orders.models import OrderSettings
from linli.orders.rules import SETTINGS
from linli.orders.schemas import OrderSettingsIO
from linli.orders.service import settings as order_settings
from tests.conftest import problem_code
from tests.merchants import new_merchant


def test_the_wire_schema_and_the_defaults_are_the_spec():
    assert OrderSettingsIO().model_dump() == SETTINGS.defaults()
    field = OrderSettingsIO.model_fields["after_sales_days"]
    assert (field.default, [getattr(m, "ge", None) or getattr(m, "le", None) for m in field.metadata]) == (7, [1, 60])


@pytest.mark.parametrize(("name", "value"), [("unpaid_minutes", 4), ("after_sales_days", 61), ("quick_refund_max", -1), ("max_qty_per_line", 10_000), ("delivery_radius_m", True)])
def test_the_service_refuses_a_setting_out_of_bounds_and_writes_nothing(db, name, value):
    mid, owner = new_merchant(db)
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            order_settings.put(s, owner, mid, {"unpaid_minutes": 20, name: value})
        assert e.value.code == "order.settings_invalid" and e.value.extra["field"] == name
        s.flush()
        assert s.get(OrderSettings, mid) is None  # not even pending in the session
    with db.transaction() as s:
        assert s.get(OrderSettings, mid) is None


def test_a_refused_change_leaves_saved_settings_as_they_were(db):
    mid, owner = new_merchant(db)
    with db.transaction() as s:
        order_settings.put(s, owner, mid, {"unpaid_minutes": 30})
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            order_settings.put(s, owner, mid, {"auto_confirm_days": 3, "after_sales_days": 0})
        assert e.value.extra == {"field": "after_sales_days", "lo": 1, "hi": 60}
        row = s.get(OrderSettings, mid)
        assert (row.unpaid_minutes, row.auto_confirm_days) == (30, 7)
    with db.transaction() as s:
        row = s.get(OrderSettings, mid)
        assert (row.unpaid_minutes, row.auto_confirm_days, row.after_sales_days) == (30, 7, 7)


def test_the_api_still_answers_out_of_bounds_from_the_schema(client, merchant):
    url = f"/api/v1/merchants/{merchant.id}/order-settings"
    r = client.put(url, json={"after_sales_days": 61}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "validation.invalid"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "after_sales_days"]]
    assert client.get(url, headers=merchant.owner).json() == SETTINGS.defaults()
