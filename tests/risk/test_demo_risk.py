"""The demo's risk stories as the owner and the sharers see them: 阿强's self-referral
blocked, 刘姐's device cluster on hold, 周阿姨's case released as a false positive — and
nothing else of the demo trips a rule."""

from __future__ import annotations

from linli import demo, demo_risk, events, ledger
from linli.risk import cases
from tests.conftest import login
from tests.web.conftest import HTML, page_login

API = "/api/v1"


def _cases(client, owner, mid, status):
    r = client.get(f"{API}/merchants/{mid}/risk/cases", params={"status": status}, headers=owner)
    assert r.status_code == 200, r.text
    return r.json()


def _earnings(client, phone, mid):
    return client.get(f"{API}/me/earnings", params={"merchant_id": mid}, headers=login(client, phone)).json()


def test_the_demo_has_a_blocked_self_referral_a_cluster_on_hold_and_a_released_case(demo_world):
    client, db, clock, info = demo_world.client, demo_world.db, demo_world.clock, demo_world.info
    mid = info.merchant_id
    owner = login(client, demo.OWNER_PHONE)
    opened = _cases(client, owner, mid, "open")
    # Only the stories' cases are open: the rest of the demo (the live room, the chain, the
    # boards) trips no rule.
    assert sorted((c["member_phone"], c["level"]) for c in opened) == [("137****0501", "block"), ("137****0511", "hold")]
    block, hold = sorted(opened, key=lambda c: c["member_phone"])
    binding, refused = block["decisions"]  # the second account's binding flagged, its order refused
    assert (binding["rule"], binding["subject_kind"], binding["outcome"]) == ("self_referral", "binding", "review")
    assert (refused["rule"], refused["subject_kind"], refused["outcome"]) == ("self_referral", "order", "block")
    assert [s["kind"] for s in block["signals"]] == ["device"] and not block["overdue"]
    assert [d["rule"] for d in hold["decisions"]] == ["cluster"] and len(hold["decisions"][0]["evidence"]["shared"][0]["members"]) == 3
    assert hold["held"]["held"] > 0 and not hold["overdue"]
    [closed] = _cases(client, owner, mid, "closed")
    assert closed["member_phone"] == "137****0521" and (closed["outcome"], closed["reason"], closed["false_positive"]) == ("release", demo_risk.RELEASE_REASON, True)
    assert closed["amount"] > 0 and closed["held"]["held"] == 0
    with db.transaction() as s:
        decided = cases.get_case(s, _principal(s), mid, closed["id"], clock.current).case.decided_by
        assert decided == _principal(s).member_id  # the owner decided

    # 阿强 earned nothing on his second account's order; the console's order page says so.
    aqiang = _earnings(client, demo_risk.SELF_REFERRAL[0][0], mid)
    assert all(r["order_id"] != refused["subject_id"] for r in aqiang["records"])
    page_login(client, demo.OWNER_PHONE, "console")
    html = client.get(f"/console/merchants/{mid}/orders/{refused['subject_id']}", headers=HTML).text
    assert 'data-rule="self_referral"' in html and "137****0501" in html
    # 刘姐's available commission is held (审核中); 周阿姨's is available again.
    liu = _earnings(client, demo_risk.CLUSTER[0][0], mid)
    assert (liu["available"], liu["held"], liu["hold_reason"]) == (0, hold["held"]["held"], "review")
    page_login(client, demo_risk.CLUSTER[0][0])
    centre = client.get(f"/m/share/{mid}", headers=HTML).text
    assert 'data-testid="hold-note"' in centre and "审核中" in centre
    zhou = _earnings(client, demo_risk.RELEASED[0][0], mid)
    assert (zhou["available"], zhou["held"], zhou["hold_reason"]) == (closed["amount"], 0, None)
    with db.transaction() as s:
        assert ledger.check(s) == []

    # Seeding again changes nothing.
    before = (_cases(client, owner, mid, "open"), _cases(client, owner, mid, "closed"), liu, zhou)
    demo.seed(db, clock.current)
    assert not demo_risk.seed_risk(db, mid, demo.OWNER_PHONE, clock.current)
    events.drain(db)
    after = (_cases(client, owner, mid, "open"), _cases(client, owner, mid, "closed"))
    assert after == before[:2]
    assert _earnings(client, demo_risk.CLUSTER[0][0], mid) == liu and _earnings(client, demo_risk.RELEASED[0][0], mid) == zhou


def _principal(s):
    from linli.identity import service as identity

    owner = identity.member_by_phone(s, demo.OWNER_PHONE)
    return identity.Principal(owner.id, owner.phone, False)
