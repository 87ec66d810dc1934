"""The app factory: the one place where settings, database, quality engine and relay meet."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.engine import Engine

from catalog.migrate import upgrade
from gateway.bootstrap import ensure_admin_key, seed_catalog
from gateway.contracts import QualityChecker, QualityGate
from gateway.database import (
    build_engine,
    is_postgres,
    session_factory,
    write_session_factory,
)
from gateway.deps import Hub
from gateway.errors import install_error_handlers
from gateway.limits import RateLimiter
from gateway.middleware import install_middleware
from gateway.ndxp_client import NdxpClient
from gateway.quality_pool import ProcessQualityGate
from gateway.references import EnterpriseRegistry, ReferenceChecker, ReferenceRechecker
from gateway.relay import OutboxRelay
from gateway.routes import (
    audit,
    batches,
    connectors,
    datasets,
    harvest,
    health,
    keys,
    ndxp,
    quality,
    rechecks,
    records,
    registry,
    replay,
    subscriptions,
    units,
)
from gateway.routes.registry import install_registry_error_handler
from gateway.settings import Settings

if TYPE_CHECKING:
    from schemas.quality import QualityEngine

log = logging.getLogger(__name__)


def prepare_database(engine: Engine, settings: Settings) -> str | None:
    """Migrate, seed the catalog and install the admin key; returns a key to show once."""
    if settings.migrate_on_start:
        upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        if settings.seed_catalog:
            seed_catalog(session)
        generated = ensure_admin_key(session, settings)
        session.commit()
    return generated


def create_app(
    settings: Settings,
    *,
    kafka_bootstrap: str | None = None,
    engine: Engine | None = None,
    quality_engine: QualityEngine | None = None,
    start_relay: bool | None = None,
    ndxp_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """Build the gateway. `kafka_bootstrap` overrides settings (the embedded broker's address);
    without any bootstrap the hub still accepts records and the outbox waits for a relay.
    `ndxp_transport` replaces the network under the NDXP client (tests)."""
    bootstrap = kafka_bootstrap or settings.kafka_bootstrap or None
    run_relay = settings.relay_enabled if start_relay is None else start_relay

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = engine or build_engine(
            settings.resolved_database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        generated = prepare_database(db, settings)
        if generated:
            print(
                "\n  Development admin key (shown once; also in "
                f"{settings.data_dir}/admin.key):\n    {generated}\n",
                file=sys.stderr,
                flush=True,
            )
        sessions = session_factory(db)
        relay = None
        if bootstrap and run_relay:
            relay = OutboxRelay(
                sessions=sessions,
                settings=settings,
                bootstrap=bootstrap,
                lock_rows=is_postgres(db),
            )
            relay.start()
        write_sessions = write_session_factory(db)
        ndxp_client = NdxpClient(
            settings=settings, sessions=write_sessions, transport=ndxp_transport
        )
        enterprises = EnterpriseRegistry(
            client=ndxp_client, sessions=write_sessions, settings=settings
        )
        rechecker = ReferenceRechecker(
            registry=enterprises, sessions=write_sessions, settings=settings
        )
        # Background workers (the relay, the re-checker) run together or not at all.
        if run_relay and settings.ndxp_recheck_enabled:
            rechecker.start()
        quality: QualityChecker
        if quality_engine is not None:
            quality = QualityGate(quality_engine)
        elif settings.quality_workers == 0:
            from schemas.quality import QualityEngine  # only this process runs GX

            quality = QualityGate(QualityEngine())
        else:
            quality = ProcessQualityGate(settings.quality_workers)
            await run_in_threadpool(quality.warm_up)  # pay the GX import before serving
        app.state.hub = Hub(
            settings=settings,
            sessions=sessions,
            write_sessions=write_sessions,
            quality=quality,
            limiter=RateLimiter(
                rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst
            ),
            relay=relay,
            broker_bootstrap=bootstrap,
            ndxp=ndxp_client,
            references=ReferenceChecker(enterprises),
            rechecker=rechecker,
        )
        try:
            yield
        finally:
            rechecker.stop()
            ndxp_client.close()
            if isinstance(quality, ProcessQualityGate):
                quality.close()
            if relay is not None:
                relay.stop()
            if engine is None:
                db.dispose()

    app = FastAPI(
        title="FDXP hub",
        version="0.1.0",
        summary="The finance ministry's data-integration hub: catalogued, checked, republished.",
        lifespan=lifespan,
    )

    install_middleware(app)
    install_error_handlers(app)
    install_registry_error_handler(app)
    for module in (
        health,
        records,
        replay,
        quality,
        datasets,
        batches,
        keys,
        units,
        subscriptions,
        connectors,
        audit,
        harvest,
        rechecks,
        ndxp,
    ):
        app.include_router(module.router)
    app.include_router(ndxp.admin_router)
    app.include_router(registry.router)
    return app
