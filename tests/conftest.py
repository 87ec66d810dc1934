"""Shared fixtures: the real broker (embedded Tansu), real databases (SQLite and PostgreSQL),
the gateway built by its own factory, and a live server for end-to-end tests."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from gateway.app import create_app, prepare_database
from gateway.broker import EmbeddedBroker, free_port
from gateway.database import build_engine
from gateway.settings import Settings
from schemas.quality import QualityEngine
from tests.support import ADMIN_KEY, Hub, poll_until

POSTGRES_ADMIN_URL = os.environ.get(
    "FDXP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


# --- broker ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    """The bootstrap address of a real broker: the embedded Tansu, started once per session."""
    external = os.environ.get("FDXP_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker() as embedded:
        yield embedded.bootstrap


# --- databases ---------------------------------------------------------------------------------
def _template_settings(data_dir: Path) -> Settings:
    return Settings(env="development", data_dir=str(data_dir), admin_key=ADMIN_KEY)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = build_engine(f"sqlite:///{path}")
    prepare_database(engine, _template_settings(path.parent))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"fdxp_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        if os.environ.get("FDXP_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc.orig}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = build_engine(url)
    prepare_database(engine, _template_settings(Path("/tmp")))
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database for one test, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "fdxp.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"fdxp_t_{os.getpid()}_{next(_counter)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- the gateway -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def quality_engine() -> QualityEngine:
    """One Great Expectations engine for the session, as one per process in production."""
    return QualityEngine()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # A topic prefix of its own keeps each test's topics apart on the shared broker.
    return Settings(
        env="development",
        data_dir=str(tmp_path),
        database_url=database_url,
        admin_key=ADMIN_KEY,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.fdxp",
    )


@pytest.fixture
def hub(settings: Settings, quality_engine: QualityEngine) -> Iterator[Hub]:
    """The gateway in-process (TestClient), without a relay: for API behaviour."""
    app = create_app(settings, quality_engine=quality_engine, start_relay=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Hub(client=client, settings=settings)


@pytest.fixture
def live_hub(settings: Settings, quality_engine: QualityEngine, broker: str) -> Iterator[Hub]:
    """The gateway served by uvicorn on a free port, with its relay publishing to the broker."""
    app = create_app(settings, kafka_bootstrap=broker, quality_engine=quality_engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    poll_until(lambda: server.started or not thread.is_alive(), what="uvicorn start")
    assert server.started, "the gateway did not start"
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30) as client:
        yield Hub(client=client, settings=settings, url=url)
    server.should_exit = True
    thread.join(15)
