"""The database unavailable: a PostgreSQL server of the test's own, stopped and started again,
and a SQLite file locked by another connection. Ingest answers 503 fast with the uniform error
body, writes nothing partial, and recovers by itself once the database is back."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from gateway.app import create_app
from gateway.broker import free_port
from gateway.settings import Settings
from schemas.quality import QualityEngine
from tests.factories import einvoices
from tests.reliability.procs import RECORDS
from tests.support import ADMIN_KEY, Hub, poll_until

pytestmark = pytest.mark.integration
FAST = 5.0  # seconds: "fast" for an answer while the database is down


@dataclass
class PrivateServer:
    """A PostgreSQL server in a temporary directory, on a free port, never the shared one."""

    bindir: Path
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.datadir / "server.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivateServer]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    # Not under pytest's tmp_path: its root-only parents would lock the postgres user out.
    root = Path(tempfile.mkdtemp(prefix="fdxp-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(datadir, "postgres")
    server = PrivateServer(bindir=Path(found[-1]).parent, datadir=datadir, port=free_port())
    server._run("initdb", "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync")
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # the test may have stopped it
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(
        env="development",
        data_dir=str(tmp_path),
        database_url=database_url,
        admin_key=ADMIN_KEY,
        rate_limit_per_second=0,
        **extra,  # type: ignore[arg-type]  # pydantic-settings takes them by name
    )


def _timed_post(
    client: TestClient, records: list[dict], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(RECORDS, json={"records": records}, headers=headers)
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert elapsed < FAST, f"503 after {elapsed:.1f}s"
    body = response.json()
    assert body["type"] == "unavailable"
    assert body["message"] and body["detail"] == response.headers["X-Request-ID"]
    assert response.headers.get("Retry-After")


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_postgres_stopped_answers_503_fast_and_recovers_by_itself(
    private_postgres: PrivateServer, tmp_path: Path, quality_engine: QualityEngine
) -> None:
    settings = _settings(tmp_path, private_postgres.url)
    app = create_app(settings, quality_engine=quality_engine, start_relay=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        hub = Hub(client=client, settings=settings)
        tct = hub.auth(hub.new_key("TCT"))
        first, during = einvoices(20, seed=61), einvoices(20, seed=62)
        assert client.post(RECORDS, json={"records": first}, headers=tct).status_code == 200

        private_postgres.stop()
        retry = {**tct, "Idempotency-Key": "outage-batch-1"}
        response, elapsed = _timed_post(client, during, retry)
        _assert_unavailable(response, elapsed)
        started = time.monotonic()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and time.monotonic() - started < FAST
        assert ready.json()["type"] == "unavailable"

        private_postgres.start()
        recovered = poll_until(
            lambda: (
                (r := client.post(RECORDS, json={"records": during}, headers=retry)).status_code
                == 200
                and r
            ),
            timeout=30,
            interval=0.2,
            what="ingest to recover",
        )
        assert recovered.json()["accepted"] == 20
        assert not recovered.json().get("replayed"), "the failed attempt left a batch behind"
        assert client.get("/readyz").status_code == 200
    # Exactly the two batches: the one refused during the outage wrote nothing.
    assert _count(private_postgres.url, "records") == 40
    assert _count(private_postgres.url, "batches") == 2
    assert _count(private_postgres.url, "outbox") == 40


def test_locked_sqlite_answers_503_fast_and_recovers_when_released(
    sqlite_template: Path, tmp_path: Path, quality_engine: QualityEngine
) -> None:
    path = tmp_path / "fdxp.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    settings = _settings(tmp_path, url, sqlite_busy_timeout_ms=1000)
    app = create_app(settings, quality_engine=quality_engine, start_relay=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        hub = Hub(client=client, settings=settings)
        tct = hub.auth(hub.new_key("TCT"))
        records = einvoices(20, seed=63)
        before = _count(url, "records"), _count(url, "batches")

        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            retry = {**tct, "Idempotency-Key": "locked-batch-1"}
            response, elapsed = _timed_post(client, records, retry)
            _assert_unavailable(response, elapsed)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert (_count(url, "records"), _count(url, "batches")) == before

        response = client.post(RECORDS, json={"records": records}, headers=retry)
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 20 and not response.json().get("replayed")
    assert _count(url, "records") == before[0] + 20


def test_sqlite_busy_timeout_defaults_to_seconds_not_half_a_minute() -> None:
    assert Settings().sqlite_busy_timeout_ms == 5000
