"""Migrations: the models are what the migrations build (on both backends), and a
migration that adds a column to existing rows fills it from the right parent.

Each test runs on a scratch database of its own (a SQLite file, or a PostgreSQL database
created and dropped for it), so the shared test databases keep their head schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, Float, Integer, MetaData, String, Text, inspect, text

from linli import domains, migrate
from linli.db import Base, Database


@pytest.fixture
def scratch(backend: str, tmp_path, request) -> Iterator[Database]:
    """An empty database on ``backend`` that no other test uses."""
    url = f"sqlite:///{tmp_path}/scratch.db" if backend == "sqlite" else request.getfixturevalue("fresh_pg_database")
    db = Database(url)
    yield db
    db.dispose()


def _downgrade(db: Database, revision: str) -> None:
    cfg = migrate.alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_models_match_the_migrations(scratch):
    """Upgraded to head, the database is what the models describe: autogenerate finds
    nothing to do (tables, columns, types, nullability, indexes, unique constraints, foreign
    keys), and every table has the CHECK constraints its model declares."""
    migrate.upgrade(scratch)
    domains.load_all()
    with scratch.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        reflected = inspect(conn)
        for table in Base.metadata.sorted_tables:
            declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
            assert {c["name"] for c in reflected.get_check_constraints(table.name)} == declared, table.name


# --- 0009: merchant_id on the merchant-owned rows that lacked it -------------------------

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
_FILLER = ((Boolean, False), (Integer, 0), (Float, 0.0), (DateTime, NOW), (JSON, []), (String, "x"), (Text, ""))


def _add(conn, tables: MetaData, table_name: str, /, **given) -> int:
    """Insert one row into ``table_name`` as the schema then stood: ``given`` plus a plain value
    in every other required column. Returns the row's key."""
    table = tables.tables[table_name]
    values = dict(given)
    for col in table.columns:
        if col.name in values or col.nullable or col.primary_key:
            continue
        values[col.name] = next(v for kind, v in _FILLER if isinstance(col.type, kind))
    return conn.execute(table.insert().values(**values)).inserted_primary_key[0]


def _seed_at_0008(conn) -> dict[str, dict[int, int]]:
    """Rows of every table 0009 changes, for two merchants sharing one buyer (so no
    column but the parent's can give the right answer). Returns, per table, row key →
    the merchant it must get."""
    t = MetaData()
    t.reflect(conn)
    want: dict[str, dict[int, int]] = {}

    def expect(table: str, key: int, merchant: int) -> None:
        want.setdefault(table, {})[key] = merchant

    buyer = _add(conn, t, "members", phone="13700000001")
    for n in (1, 2):
        m = _add(conn, t, "merchants", name=f"shop {n}", status="active")
        product = _add(conn, t, "products", merchant_id=m, status="active")
        sku = _add(conn, t, "skus", merchant_id=m, product_id=product)
        order = _add(conn, t, "orders", merchant_id=m, member_id=buyer, status="paid", expires_at=NOW)
        line = _add(conn, t, "order_lines", order_id=order, merchant_id=m, sku_id=sku, product_id=product, qty=1)
        case = _add(conn, t, "refund_cases", merchant_id=m, order_id=order, member_id=buyer, status="requested")
        expect("refund_case_lines", _add(conn, t, "refund_case_lines", case_id=case, line_id=line), m)
        expect("purchase_counters", _add(conn, t, "purchase_counters", member_id=buyer, product_id=product, qty=1), m)
        campaign = _add(conn, t, "campaigns", merchant_id=m, kind="team", status="active", starts_at=NOW, ends_at=NOW)
        offer = _add(conn, t, "campaign_offers", campaign_id=campaign, merchant_id=m, sku_id=sku, product_id=product)
        expect("campaign_offer_counters", _add(conn, t, "campaign_offer_counters", offer_id=offer, member_id=buyer, qty=1), m)
        expect("campaign_order_lines", _add(conn, t, "campaign_order_lines", order_id=order, offer_id=offer, campaign_id=campaign, member_id=buyer, qty=1), m)
        expect("campaign_entries", _add(conn, t, "campaign_entries", campaign_id=campaign, member_id=buyer, visits=1), m)
        team = _add(conn, t, "campaign_teams", campaign_id=campaign, merchant_id=m, opener_id=buyer, size=2, status="forming", seats_taken=1)
        expect("campaign_team_members", _add(conn, t, "campaign_team_members", team_id=team, order_id=order, member_id=buyer, is_opener=True), m)
        expect("campaign_threshold_rebates", _add(conn, t, "campaign_threshold_rebates", order_id=order, campaign_id=campaign, kind="none"), m)
    return want


def test_0009_gives_each_row_its_parents_merchant(scratch):
    migrate.upgrade(scratch, "0008")
    with scratch.engine.begin() as conn:
        want = _seed_at_0008(conn)
    assert len(want) == 7 and all(len(rows) == 2 for rows in want.values())

    migrate.upgrade(scratch, "0009")
    with scratch.engine.connect() as conn:
        cols = inspect(conn)
        for table, rows in want.items():
            key = cols.get_pk_constraint(table)["constrained_columns"][0]
            got = dict(conn.execute(text(f"SELECT {key}, merchant_id FROM {table}")).all())
            assert got == rows, table
            merchant_id = next(c for c in cols.get_columns(table) if c["name"] == "merchant_id")
            assert merchant_id["nullable"] is False, table
            assert any(ix["column_names"] == ["merchant_id"] for ix in cols.get_indexes(table)), table
            assert any(fk["constrained_columns"] == ["merchant_id"] and fk["referred_table"] == "merchants" for fk in cols.get_foreign_keys(table)), table

    # Down again: the columns go, the rows stay.
    _downgrade(scratch, "0008")
    with scratch.engine.connect() as conn:
        cols = inspect(conn)
        for table, rows in want.items():
            assert "merchant_id" not in {c["name"] for c in cols.get_columns(table)}, table
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == len(rows), table


def _insert(conn, table: str, **values) -> int:
    """A row of ``table`` as the schema of the moment has it: the given values, and a
    placeholder for every other column that needs one."""
    t = sa_table(conn, table)
    row = dict(values)
    for c in t.columns:
        if c.name in row or c.nullable or c.server_default is not None or (c.primary_key and c.autoincrement is not False):
            continue
        py = c.type.python_type if not isinstance(c.type, JSON) else dict
        row[c.name] = {int: 1, str: "x", bool: False, dict: {}, datetime: datetime(2026, 11, 1, tzinfo=timezone.utc)}.get(py, 1)
    return conn.execute(t.insert().values(**row).returning(t.c.id)).scalar_one()


def sa_table(conn, name: str):
    from sqlalchemy import Table

    return Table(name, MetaData(), autoload_with=conn)


def test_0026_marks_the_systems_past_refunds_and_keeps_every_refund(scratch):
    """By the time 0026 runs, refunds exist (with their lines): the column is added in place
    (a batch copy of refund_cases would be refused by SQLite's foreign keys), and only the
    refunds the system decided are marked — not a buyer's quick refund, nor one staff approved."""
    migrate.upgrade(scratch, "0025")
    with scratch.engine.begin() as conn:
        merchant = _insert(conn, "merchants", name="优邻优选", status="active")
        member = _insert(conn, "members", phone="13700000001")
        order = _insert(conn, "orders", merchant_id=merchant, member_id=member, status="received", total_paid=6800, refunded=3000)
        product = _insert(conn, "products", merchant_id=merchant, name="黄金奶油草莓")
        sku = _insert(conn, "skus", product_id=product, merchant_id=merchant, name="1盒", price=6800)
        line = _insert(conn, "order_lines", order_id=order, merchant_id=merchant, product_id=product, sku_id=sku, qty=1, paid=6800, refunded=3000)
        cases = {}
        for kind, note, decided_by in (("quick", "quick refund (坏果包赔)", None), ("staff", None, member), ("system", "满额返现", None)):
            cases[kind] = _insert(conn, "refund_cases", merchant_id=merchant, order_id=order, member_id=member, status="refunded", amount=1000, reason=kind,
                                  auto_approved=kind != "staff", decided_by=decided_by, decision_note=note)
            _insert(conn, "refund_case_lines", case_id=cases[kind], merchant_id=merchant, line_id=line, amount=1000)
    migrate.upgrade(scratch)
    with scratch.engine.connect() as conn:
        marked = dict(conn.execute(text("SELECT reason, by_system FROM refund_cases")).all())
        assert {k: bool(v) for k, v in marked.items()} == {"quick": False, "staff": False, "system": True}
        assert conn.execute(text("SELECT count(*) FROM refund_case_lines")).scalar_one() == 3
    _downgrade(scratch, "0025")
    with scratch.engine.connect() as conn:
        assert "by_system" not in {c["name"] for c in inspect(conn).get_columns("refund_cases")}
        assert conn.execute(text("SELECT count(*) FROM refund_cases")).scalar_one() == 3
