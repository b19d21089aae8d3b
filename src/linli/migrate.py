"""Schema migrations with Alembic (``linli db upgrade``) and the start-up schema check.

A server or worker started on a database whose schema is behind the code would answer
with errors on every request and log missing tables on every tick, so ``require_current``
refuses to start instead, naming the command that fixes it. A database *ahead* of the
code (a newer release migrated it) is refused too: this code does not know that schema.
"""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from linli.db import Database


class SchemaMismatch(RuntimeError):
    """The database's schema revision is not the one this code was written for."""


def _scripts_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "linli:migrations")
    return cfg


def alembic_config(db: Database) -> Config:
    cfg = _scripts_config()
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.reader_engine.connect() as conn:  # a read: no write lock on SQLite
        return MigrationContext.configure(conn).get_current_revision()


@lru_cache(maxsize=1)
def _shipped() -> tuple[str, frozenset[str]]:
    """The head revision and every revision this code ships. The scripts are parsed once
    per process (about 30 ms each time), not at every start of an app."""
    scripts = ScriptDirectory.from_config(_scripts_config())
    return scripts.get_current_head(), frozenset(rev.revision for rev in scripts.walk_revisions())


def head(db: Database) -> str:
    """The newest revision this code ships."""
    return _shipped()[0]


def require_current(db: Database) -> None:
    """Raise ``SchemaMismatch`` unless the database is at this code's head revision."""
    (want, known), have = _shipped(), current(db)
    if have == want:
        return
    where = db.engine.url.render_as_string(hide_password=True)
    if have is None:
        raise SchemaMismatch(f"The database {where} has no Linli schema (this code needs revision {want}). Run: linli db upgrade")
    if have not in known:
        raise SchemaMismatch(f"The database {where} is at revision {have}, which this code does not know (it ships up to {want}): "
                             "a newer Linli migrated it. Run the matching release.")
    raise SchemaMismatch(f"The database {where} is at revision {have}, behind this code's {want}. Run: linli db upgrade")
