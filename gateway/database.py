"""Engines and sessions. Built here, in the gateway, and handed to whatever needs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

# A database that is down must fail a request within seconds (the API answers 503), not hang it.
PG_CONNECT_TIMEOUT_S = 3
POOL_TIMEOUT_S = 5
WRITE_INTENT = "fdxp_write_intent"


def build_engine(url: str, *, pool_size: int = 10, sqlite_busy_timeout_ms: int = 5000) -> Engine:
    """An engine for SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3), failing fast."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_ms / 1000},
            pool_size=pool_size,
            pool_timeout=POOL_TIMEOUT_S,
        )
        _configure_sqlite(engine, busy_timeout_ms=sqlite_busy_timeout_ms)
        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    # pysqlite's own transaction handling defers BEGIN in ways that break SAVEPOINT and
    # locking; take control of it (SQLAlchemy's documented recipe) and set WAL once per file.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes cannot wait for the write lock:
        # SQLite answers "database is locked" at once if another writer committed in between.
        # Sessions that are going to write say so (see `write_session_factory`) and take the
        # lock up front, waiting up to the busy timeout.
        immediate = connection.get_execution_options().get(WRITE_INTENT, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def write_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that write: on SQLite their transactions begin IMMEDIATE until
    the first commit. After it, the session goes back to deferred transactions: what a route
    reads to build its answer must not hold the write lock while the response (and its audit
    entry, written by the middleware) is on its way."""
    factory = sessionmaker(engine.execution_options(**{WRITE_INTENT: True}), expire_on_commit=False)

    @event.listens_for(factory, "after_commit")
    def _defer_after_commit(session: Session) -> None:
        session.bind = engine

    return factory


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
