"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from catalog import repository
from gateway.deps import HubDep
from gateway.errors import Unavailable
from gateway.responses import json_response

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers; the relay's state is reported")
def readyz(hub: HubDep) -> Response:
    try:
        with hub.sessions() as session:
            session.execute(text("SELECT 1"))
            unsent = repository.count_unsent(session)
    except Exception as exc:  # any database failure means "not ready"
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from None
    relay = hub.relay
    return json_response(
        {
            "status": "ready",
            "database": "ok",
            "outbox_unsent": unsent,
            "relay": None
            if relay is None
            else {"published": relay.published, "last_error": relay.last_error},
        }
    )
