"""Every route dependency, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from gateway.auth import Principal, authenticate
from gateway.contracts import QualityChecker
from gateway.limits import RateLimiter
from gateway.ndxp_client import NdxpClient
from gateway.references import ReferenceChecker, ReferenceRechecker
from gateway.relay import OutboxRelay
from gateway.settings import Settings


@dataclass
class Hub:
    """What the app factory wired, kept on `app.state.hub`."""

    settings: Settings
    sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    quality: QualityChecker
    limiter: RateLimiter
    relay: OutboxRelay | None = None
    broker_bootstrap: str | None = None
    ndxp: NdxpClient | None = None
    references: ReferenceChecker | None = None
    rechecker: ReferenceRechecker | None = None


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_session(request: Request, hub: HubDep) -> Iterator[Session]:
    factory = hub.write_sessions if request.method in WRITE_METHODS else hub.sessions
    with factory() as session:
        yield session


# Closed as soon as the route returns (not after the response is sent): on SQLite an open
# write transaction would otherwise block the audit entry the middleware writes meanwhile.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = authenticate(session, authorization)
    request.state.principal = principal  # for the audit log and the rate limiter
    hub: Hub = request.app.state.hub
    hub.limiter.check(principal.key_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
