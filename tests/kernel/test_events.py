"""The embedded delivery path: outbox, idempotent handlers, retries, due jobs (both backends).

The handlers and the job come from ``tests/plugin.py``; every handler records one row in
``test_effects``, so "exactly once" is counted, not assumed.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from linli import events
from linli.cli import app as cli_app
from linli.config import get_settings
from linli.db import Database, utcnow
from linli.events import HandledEvent, OutboxEvent
from tests import plugin

runner = CliRunner()


def emit_committed(db: Database, name: str, payload: dict | None = None, *, count: int = 1) -> list[int]:
    with db.transaction() as s:
        rows = [events.emit(s, plugin.PAYLOADS[name](**(payload or {}))) for _ in range(count)]
        s.flush()
        return [r.id for r in rows]


def outbox_row(db: Database, event_id: int) -> OutboxEvent:
    with db.transaction() as s:
        return s.get(OutboxEvent, event_id)


def handled_count(db: Database) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(HandledEvent))


def test_event_is_handled_once_per_handler_even_when_processed_again(effects):
    db = effects
    [eid] = emit_committed(db, "test.ping")

    assert events.process_event(db, eid) is True
    assert events.process_event(db, eid) is True
    events.drain(db)
    events.drain(db)

    assert plugin.effects(db) == [(eid, "record_a"), (eid, "record_b")]
    assert handled_count(db) == 2
    assert outbox_row(db, eid).done_at is not None


@pytest.mark.parametrize("how", ["process_event", "drain"])
def test_concurrent_deliveries_handle_each_event_once(effects, how):
    db = effects
    ids = emit_committed(db, "test.ping", count=12)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=10)
            if how == "drain":
                events.drain(db)
            else:
                for eid in ids:
                    events.process_event(db, eid)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    counts = Counter(plugin.effects(db))
    assert counts == Counter({(eid, h): 1 for eid in ids for h in ("record_a", "record_b")})
    assert handled_count(db) == 2 * len(ids)
    assert events.pending_event_ids(db) == []


def test_failing_handler_is_retried_with_backoff_and_the_other_is_not_rerun(effects, tmp_path):
    db = effects
    fail_flag = tmp_path / "fail"
    fail_flag.touch()
    [eid] = emit_committed(db, "test.flaky", {"fail_while": str(fail_flag)})

    before = utcnow()
    assert events.dispatch_pending(db) == 0  # the failure is recorded, not raised
    after = utcnow()
    row = outbox_row(db, eid)
    assert row.done_at is None and row.attempts == 1
    assert "flaky_fail" in row.last_error
    assert before + timedelta(seconds=2) <= row.next_attempt_at <= after + timedelta(seconds=2)
    assert plugin.effects(db) == [(eid, "flaky_ok")]  # flaky_fail's own write rolled back

    # Not due before its backoff ends, due from then on.
    first_retry_at = row.next_attempt_at
    assert eid not in events.pending_event_ids(db, now=first_retry_at - timedelta(microseconds=1))
    assert eid in events.pending_event_ids(db, now=first_retry_at)

    # Still failing: the backoff doubles, the handler that succeeded is left alone.
    before = utcnow()
    assert events.dispatch_pending(db, now=first_retry_at) == 0
    after = utcnow()
    row = outbox_row(db, eid)
    assert row.attempts == 2
    assert before + timedelta(seconds=4) <= row.next_attempt_at <= after + timedelta(seconds=4)
    with pytest.raises(events.HandlerFailed):
        events.process_event(db, eid)  # what a broker sees: an exception to retry on

    fail_flag.unlink()
    assert events.dispatch_pending(db, now=outbox_row(db, eid).next_attempt_at) == 1
    row = outbox_row(db, eid)
    assert row.done_at is not None and row.last_error is None
    assert Counter(plugin.effects(db)) == Counter({(eid, "flaky_ok"): 1, (eid, "flaky_fail"): 1})
    assert events.drain(db) == 0


def test_event_rolled_back_with_its_transaction_never_reaches_handlers(effects):
    db = effects
    [kept] = emit_committed(db, "test.ping")
    with pytest.raises(RuntimeError), db.transaction() as s:
        events.emit(s, plugin.Ping())
        s.flush()  # the row exists inside the transaction…
        raise RuntimeError("the change that caused it failed")

    events.drain(db)

    with db.transaction() as s:
        assert list(s.scalars(select(OutboxEvent.id))) == [kept]  # …and is gone with it
    assert Counter(plugin.effects(db)) == Counter({(kept, "record_a"): 1, (kept, "record_b"): 1})


@pytest.fixture
def cli_env(effects, monkeypatch):
    """Point the ``linli`` CLI (run in-process) at the test database, embedded mode."""
    monkeypatch.setenv("LINLI_DATABASE_URL", effects.url)
    monkeypatch.setenv("LINLI_PLUGINS", "tests.plugin")
    monkeypatch.setenv("LINLI_ENV", "test")
    monkeypatch.delenv("LINLI_BROKER_URL", raising=False)
    monkeypatch.delenv("LINLI_INLINE_DISPATCH", raising=False)
    get_settings.cache_clear()
    yield effects
    get_settings.cache_clear()


def add_ticks(db: Database, *due: datetime) -> None:
    with db.engine.begin() as conn:
        for at in due:
            conn.execute(insert(plugin.test_ticks).values(due_at=at))


def done_ticks(db: Database) -> list[str | None]:
    with db.engine.connect() as conn:
        return list(conn.scalars(select(plugin.test_ticks.c.done_as_of).order_by(plugin.test_ticks.c.id)))


def test_jobs_run_due_runs_jobs_at_the_given_instant_idempotently(cli_env):
    db = cli_env
    t1 = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
    t2 = t1 + timedelta(hours=6)
    add_ticks(db, t1, t2)

    for _ in range(2):  # the second run finds nothing more to do
        result = runner.invoke(cli_app, ["jobs", "run-due", "--as-of", "2026-11-22T02:30:00Z"])
        assert result.exit_code == 0, result.output
        assert "tests.tick" in result.output
        assert done_ticks(db) == ["2026-11-22T02:30:00+00:00", None]
        # Embedded mode drains the events the job emitted: handled once, with that instant.
        assert [note for (note,) in _tick_notes(db)] == ["2026-11-22T02:30:00+00:00"]

    result = runner.invoke(cli_app, ["jobs", "run-due", "--as-of", "2026-11-22T09:00:00+01:00"])  # 08:00Z
    assert result.exit_code == 0, result.output
    assert done_ticks(db) == ["2026-11-22T02:30:00+00:00", "2026-11-22T08:00:00+00:00"]
    assert [note for (note,) in _tick_notes(db)] == ["2026-11-22T02:30:00+00:00", "2026-11-22T08:00:00+00:00"]

    result = runner.invoke(cli_app, ["jobs", "run-due", "--as-of", "yesterday"])
    assert result.exit_code == 2


def _tick_notes(db: Database):
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                select(plugin.test_effects.c.note)
                .where(plugin.test_effects.c.handler == "record_tick")
                .order_by(plugin.test_effects.c.id)
            )
        )


def test_worker_once_drains_the_outbox_and_runs_due_jobs(cli_env):
    db = cli_env
    ids = emit_committed(db, "test.ping", count=3)
    add_ticks(db, utcnow() - timedelta(minutes=1))

    result = runner.invoke(cli_app, ["worker", "--once"])
    assert result.exit_code == 0, result.output

    effects = Counter(plugin.effects(db))
    assert all(effects[(eid, h)] == 1 for eid in ids for h in ("record_a", "record_b"))
    assert len(_tick_notes(db)) == 1
    assert events.pending_event_ids(db) == []
