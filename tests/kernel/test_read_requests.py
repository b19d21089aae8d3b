"""Read requests do not queue behind writers: on SQLite a GET runs on a query-only,
deferred transaction (no write lock); one that turns out to write is run again on a write
session, with one effect."""

from __future__ import annotations

import threading

from sqlalchemy import text

from tests.conftest import login


def _hold_write_lock(db, backend: str):
    """A writer in the middle of its transaction: SQLite's write lock taken, a member's
    nickname changed but not committed."""
    conn = db.engine.connect()
    conn.begin()  # on SQLite the engine begins IMMEDIATE: the database's one write lock
    conn.execute(text("UPDATE members SET nickname = '改了一半' WHERE phone = '13700000001'"))
    return conn


def _in_thread(fn):
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t.start()
    return t, box


def test_a_read_is_answered_while_a_writer_holds_the_lock(client, db, backend):
    me = login(client, "13700000001")
    assert client.patch("/api/v1/me", json={"nickname": "小周"}, headers=me).status_code == 200
    writer = _hold_write_lock(db, backend)
    try:
        t, box = _in_thread(lambda: client.get("/api/v1/me", headers=me))
        t.join(timeout=30)  # the busy timeout is 60 s: a read waiting for the lock fails here
        assert not t.is_alive(), "GET /api/v1/me waited for the writer's lock"
        r = box["r"]
        assert r.status_code == 200, r.text
        assert r.json()["nickname"] == "小周"  # the committed state, not the writer's half
    finally:
        writer.rollback()
        writer.close()


def test_a_write_waits_for_the_lock_and_then_lands(client, db, backend):
    me = login(client, "13700000001")
    writer = _hold_write_lock(db, backend)
    t, box = _in_thread(lambda: client.patch("/api/v1/me", json={"nickname": "后来者"}, headers=me))
    t.join(timeout=0.5)  # let the request reach the lock (it must wait, not fail)
    writer.rollback()
    writer.close()
    t.join(timeout=60)
    assert box["r"].status_code == 200, box["r"].text
    assert client.get("/api/v1/me", headers=me).json()["nickname"] == "后来者"


def test_a_read_request_that_writes_is_run_again_and_writes_once(client, merchant, db):
    me = login(client, "13700000001")
    first = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=me)
    assert first.status_code == 200, first.text
    again = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=me)
    assert again.json()["code"] == first.json()["code"]
    with db.engine.connect() as conn:
        codes = conn.execute(text("SELECT count(*) FROM invite_codes WHERE kind = 'personal' AND merchant_id = :m"), {"m": merchant.id}).scalar_one()
    assert codes == 1


def test_reader_sessions_refuse_writes_on_sqlite(db, backend):
    with db.reader_sessions() as s:
        if backend == "sqlite":
            try:
                s.execute(text("UPDATE members SET nickname = 'x'"))
            except Exception as exc:
                from linli.db import is_write_refused

                assert is_write_refused(exc)
            else:
                raise AssertionError("a reader session wrote on SQLite")
        else:  # PostgreSQL needs no split: readers are ordinary sessions
            assert db.reader_engine is db.engine


def test_a_writer_whose_connection_is_lost_mid_transaction_does_not_hold_up_the_next(client, db):
    me = login(client, "13700000001")
    lost = db.engine.connect()
    lost.begin()
    lost.execute(text("UPDATE members SET nickname = '断线了' WHERE phone = '13700000001'"))
    lost.invalidate()  # the connection is gone without a commit or rollback
    lost.rollback()
    lost.close()
    t, box = _in_thread(lambda: client.patch("/api/v1/me", json={"nickname": "接着写"}, headers=me))
    t.join(timeout=30)  # a turn never handed back would keep this writer waiting 60 s
    assert not t.is_alive(), "the next writer waited for a lost connection's turn"
    assert box["r"].status_code == 200, box["r"].text
    assert client.get("/api/v1/me", headers=me).json()["nickname"] == "接着写"
