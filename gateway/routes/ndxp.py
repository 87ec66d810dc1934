"""The hub as an NDXP member (docs/ndxp-protocol.md).

`/ndxp/{dataset_id}/records`: what other members read through NDXP. Let in only with NDXP's
proof (gateway/ndxp_proof.py), a message id never seen before, and the calling member's right
in the hub; answered with the REST reads' paging and field rules. Every exchange, refused or
not, goes to the hash-chained message log before the answer leaves. Errors say whose fault:

    401 caller.invalid_proof   no proof, a forged one, a stale timestamp, a tampered request
    409 caller.replayed        a message id this hub has answered before
    400 caller.bad_request     bad paging parameters
    403 caller.access_denied   the member holds no right for the dataset in the hub
    404 caller.unknown_service no such dataset, or not shared with NDXP
    503 provider.unavailable   the hub's database is unreachable (or no proof key configured)
    500 provider.error         anything else

`/v1/ndxp/...` (admin): members' access rights, service registration, the message log.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.responses import Response

from catalog import ndxp, repository
from catalog.clock import iso
from catalog.models import NdxpMessage, NdxpRight
from gateway.deps import Hub, HubDep, PrincipalDep, SessionDep
from gateway.errors import Conflict, NotFound, error_response
from gateway.ndxp_client import NdxpFailure, request_hash
from gateway.ndxp_proof import proof_problem
from gateway.policy import Action, NdxpAccessDenied, authorize, ndxp_read_access
from gateway.responses import ERRORS, json_response
from gateway.routes.records import _record_items
from gateway.tracing import valid_traceparent
from schemas.openapi import dataset_openapi

log = logging.getLogger(__name__)

router = APIRouter(tags=["ndxp"])
admin_router = APIRouter(prefix="/v1/ndxp", tags=["ndxp"])

MEMBER_ID = r"^[A-Z]{2}/[A-Z]+/[^/\s]+/[^/\s]+$"
NDXP_ERRORS: dict[int | str, dict[str, Any]] = {
    code: ERRORS[code] for code in (400, 401, 403, 404, 409, 503)
}


class Refusal(Exception):
    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


# --- inbound -------------------------------------------------------------------------------------
def _target(request: Request) -> str:
    """The request target as received (what NDXP signed): raw path, then `?query` if any."""
    raw = request.scope.get("raw_path")
    path = bytes(raw).decode("latin-1") if isinstance(raw, bytes | bytearray) else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Refusal(400, "caller.bad_request", f"{name} must be an integer in {low}..{high}")
    return int(raw)


def _read_page(session: Session, request: Request, dataset_id: str, client: str) -> bytes:
    after = _int_param(request, "after", 0, 0, 2**63 - 1)
    limit = _int_param(request, "limit", 500, 1, 5000)
    key = request.query_params.get("key")
    view = request.query_params.get("view", "history")
    if (key is not None and len(key) > 200) or view not in ("history", "latest"):
        raise Refusal(400, "caller.bad_request", "key is at most 200 characters; view is "
                      "history or latest")  # fmt: skip
    dataset = repository.get_dataset(session, dataset_id=dataset_id)
    if dataset is None or not dataset.ndxp:
        raise Refusal(404, "caller.unknown_service", f"this hub shares no service {dataset_id!r}")
    try:
        access = ndxp_read_access(session, client=client, dataset_id=dataset_id)
    except NdxpAccessDenied as exc:
        raise Refusal(403, "caller.access_denied", str(exc)) from None
    rows = repository.page_records(
        session,
        dataset_id=dataset_id,
        after=after,
        limit=limit,
        key=key,
        latest_only=view == "latest",
    )
    request.state.audit_records = len(rows)
    return orjson.dumps(
        {
            "dataset_id": dataset_id,
            "items": _record_items(session, rows, access.fields),
            "next_after": rows[-1].seq if rows else after,
        },
        option=orjson.OPT_NAIVE_UTC,
    )


Operation = Callable[[Session, Request, str, str], bytes]


def _inbound(
    hub: Hub, request: Request, dataset_id: str, body: bytes, operation: Operation | None
) -> Response:
    started = time.perf_counter()
    settings = hub.settings
    headers = request.headers
    message_id = headers.get("x-road-id") or ""
    client = headers.get("x-road-client") or ""
    service_id = f"{settings.ndxp_member_id}/{dataset_id}"
    target = _target(request)
    trace = valid_traceparent(headers.get("traceparent"))
    entry: dict[str, Any] = {
        "direction": "in",
        "message_id": message_id[:200] or "-",
        "client": client[:200] or "-",
        "service": service_id[:300],
        "method": request.method,
        "path": target[:1000],
        "user_id": (headers.get("x-road-userid") or None) and headers["x-road-userid"][:500],
        "issue": (headers.get("x-road-issue") or None) and headers["x-road-issue"][:500],
        "request_hash": request_hash(message_id, body),
        "traceparent": trace,
    }
    echo = {"X-Road-Id": message_id} if message_id and message_id.isprintable() else {}

    def logged(response: Response, *, accepted: bool, error_type: str | None) -> Response:
        with hub.write_sessions() as session:
            ndxp.append_message(
                session,
                at=datetime.now(UTC),
                accepted=accepted,
                response_hash=hashlib.sha256(bytes(response.body)).hexdigest(),
                status_code=response.status_code,
                error_type=error_type,
                duration_us=int((time.perf_counter() - started) * 1_000_000),
                **entry,
            )
            session.commit()
        log.info(
            "ndxp in %s %s from %s -> %s (message %s, traceparent %s)",
            request.method,
            target,
            client or "-",
            response.status_code,
            message_id or "-",
            trace,
        )
        return response

    def refused(exc: Refusal, *, accepted: bool) -> Response:
        response = error_response(request, exc.status, exc.type, exc.message, headers=echo)
        return logged(response, accepted=accepted, error_type=exc.type)

    try:
        if not settings.ndxp_proof_key and headers.get("x-ndxp-proof"):
            raise Refusal(503, "provider.unavailable", "this hub has no NDXP proof key configured")
        problem = proof_problem(
            settings.ndxp_proof_key,
            headers.get("x-ndxp-proof"),
            message_id=message_id,
            client=client,
            service_id=service_id,
            method=request.method,
            target=target,
            timestamp=headers.get("x-ndxp-timestamp"),
            body=body,
            now=time.time(),
            window_seconds=settings.ndxp_proof_window_seconds,
        )
        if problem is not None:
            return refused(Refusal(401, "caller.invalid_proof", problem), accepted=False)
        replayed = Refusal(409, "caller.replayed", f"message {message_id} was answered before")
        with hub.sessions() as session:
            if ndxp.message_seen(session, direction="in", message_id=message_id):
                return refused(replayed, accepted=False)
        # From here the message id is spent: whatever the answer, it is logged as accepted.
        try:
            if operation is None:
                raise Refusal(404, "caller.unknown_service", f"no operation {target}")
            with hub.sessions() as session:
                payload = operation(session, request, dataset_id, client)
            response = Response(
                payload, status_code=200, media_type="application/json", headers=echo
            )
            error_type = None
        except Refusal as exc:
            response = error_response(request, exc.status, exc.type, exc.message, headers=echo)
            error_type = exc.type
        try:
            return logged(response, accepted=True, error_type=error_type)
        except IntegrityError:  # a twin of this message was answered meanwhile
            return refused(replayed, accepted=False)
    except Refusal as exc:
        return refused(exc, accepted=False)
    except OperationalError as exc:
        log.warning("ndxp %s: database unavailable: %s", message_id or "-", exc.orig)
        return error_response(
            request,
            503,
            "provider.unavailable",
            "the provider's database is unavailable; retry later",
            headers={**echo, "Retry-After": "2"},
        )
    except Exception:
        log.exception("ndxp %s: unhandled error", message_id or "-")
        return error_response(request, 500, "provider.error", "internal error", headers=echo)


@router.get(
    "/ndxp/{dataset_id}/records",
    responses=NDXP_ERRORS,
    summary="Records of a shared dataset, for NDXP members (called through NDXP only)",
    description=(
        "Needs NDXP's proof headers (`X-NDXP-Proof`, `X-NDXP-Timestamp`, `X-Road-Id`, "
        "`X-Road-Client`) and the member's access right in the hub. Parameters as the REST "
        "read: `after`, `limit`, `key`, `view`. Errors say whose fault: `caller.*`, "
        "`provider.*`."
    ),
)
async def ndxp_records(dataset_id: str, request: Request, hub: HubDep) -> Response:
    body = await request.body()
    return await run_in_threadpool(_inbound, hub, request, dataset_id, body, _read_page)


@router.api_route(
    "/ndxp/{dataset_id}/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def ndxp_unknown(dataset_id: str, rest: str, request: Request, hub: HubDep) -> Response:
    body = await request.body()
    return await run_in_threadpool(_inbound, hub, request, dataset_id, body, None)


# --- admin: rights --------------------------------------------------------------------------------
class NdxpRightCreate(BaseModel):
    client: str = Field(pattern=MEMBER_ID, max_length=200, description="the member id")
    dataset_id: str = Field(max_length=120)
    fields: list[str] | None = Field(
        default=None, max_length=500, description="only these fields; omit for all"
    )


def _right(right: NdxpRight) -> dict[str, Any]:
    return {
        "id": right.id,
        "client": right.client,
        "dataset_id": right.dataset_id,
        "fields": right.fields,
        "granted_by": right.granted_by,
        "created_at": iso(right.created_at),
    }


def _platform_call(hub: Hub, call: Callable[[], Any]) -> str:
    """Mirror a change at NDXP when the hub is joined to it: what happened, in a word or two."""
    if hub.ndxp is None or not hub.ndxp.configured:
        return "not_configured"
    try:
        call()
    except NdxpFailure as exc:
        return f"failed: {exc.message}"[:300]
    return "done"


@admin_router.get("/rights", responses=ERRORS, summary="NDXP members' access rights")
def list_rights(
    session: SessionDep,
    principal: PrincipalDep,
    client: Annotated[str | None, Query(max_length=200)] = None,
    dataset_id: Annotated[str | None, Query(max_length=120)] = None,
) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    rights = ndxp.list_rights(session, client=client, dataset_id=dataset_id)
    return json_response({"items": [_right(r) for r in rights]})


@admin_router.post(
    "/rights",
    status_code=201,
    responses=ERRORS,
    summary="Give a member the right to read a shared dataset (again: replace its fields)",
    description="Also granted at NDXP when the hub is joined to it (`platform` in the answer).",
)
def grant_right(
    body: NdxpRightCreate, hub: HubDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    right = ndxp.grant_right(
        session,
        client=body.client,
        dataset_id=body.dataset_id,
        fields=body.fields,
        granted_by=principal.key_id,
        now=datetime.now(UTC),
    )
    answer = _right(right)
    session.commit()  # before calling NDXP: its exchange is logged in a session of its own
    assert hub.ndxp is not None
    client = hub.ndxp
    answer["platform"] = _platform_call(
        hub, lambda: client.grant(client=body.client, service_code=body.dataset_id)
    )
    return json_response(answer, 201)


@admin_router.delete(
    "/rights", status_code=204, responses=ERRORS, summary="Take a member's right away"
)
def revoke_right(
    hub: HubDep,
    session: SessionDep,
    principal: PrincipalDep,
    client: Annotated[str, Query(max_length=200)],
    dataset_id: Annotated[str, Query(max_length=120)],
) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    ndxp.revoke_right(session, client=client, dataset_id=dataset_id)
    session.commit()
    assert hub.ndxp is not None
    link = hub.ndxp
    outcome = _platform_call(hub, lambda: link.revoke(client=client, service_code=dataset_id))
    return Response(status_code=204, headers={"X-NDXP-Platform": outcome[:200]})


# --- admin: services ------------------------------------------------------------------------------
@admin_router.post(
    "/services/register",
    responses=ERRORS,
    summary="Register every dataset shared with NDXP (`ndxp: true`) as an NDXP service",
    description="Each with an OpenAPI description generated from its latest Avro schema.",
)
def register_services(hub: HubDep, session: SessionDep, principal: PrincipalDep) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    if hub.ndxp is None or not hub.ndxp.configured:
        raise Conflict("the hub is not joined to NDXP: set FDXP_NDXP_URL and FDXP_NDXP_TOKEN")
    member = hub.settings.ndxp_member_id
    services = []
    for dataset in repository.list_datasets(session):
        if not dataset.ndxp or dataset.status not in ("active", "deprecated"):
            continue
        schema = repository.latest_schema(session, dataset_id=dataset.id)
        if schema is None:
            continue
        services.append(
            (
                dataset.id,
                dataset.title,
                dataset_openapi(
                    dataset_id=dataset.id,
                    title=dataset.title,
                    description=dataset.description,
                    avro_schema=orjson.loads(schema.schema_json),
                    key_field=dataset.key_field,
                    schema_version=schema.version,
                    service_id=f"{member}/{dataset.id}",
                ),
            )
        )
    session.rollback()  # NDXP exchanges are logged in sessions of their own
    results = []
    for code, title, openapi in services:
        try:
            status = hub.ndxp.register_service(service_code=code, title=title, openapi=openapi)
        except NdxpFailure as exc:
            status = f"failed: {exc.message}"[:300]
        results.append({"service_code": code, "service_id": f"{member}/{code}", "status": status})
    return json_response({"member_id": member, "services": results})


# --- admin: the message log -----------------------------------------------------------------------
def _message(row: NdxpMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "direction": row.direction,
        "message_id": row.message_id,
        "accepted": row.accepted,
        "client": row.client,
        "service": row.service,
        "method": row.method,
        "path": row.path,
        "user_id": row.user_id,
        "issue": row.issue,
        "request_hash": row.request_hash,
        "response_hash": row.response_hash,
        "status_code": row.status_code,
        "error_type": row.error_type,
        "duration_ms": row.duration_us / 1000,
        "traceparent": row.traceparent,
        "hash": row.hash,
    }


@admin_router.get("/messages", responses=ERRORS, summary="The NDXP message log, paged by id")
def query_messages(
    session: SessionDep,
    principal: PrincipalDep,
    direction: Annotated[str | None, Query(pattern="^(in|out)$")] = None,
    client: Annotated[str | None, Query(max_length=200)] = None,
    service: Annotated[str | None, Query(max_length=300)] = None,
    status_code: Annotated[int | None, Query(ge=100, le=599)] = None,
    error_type: Annotated[str | None, Query(max_length=60)] = None,
    traceparent: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    rows = ndxp.query_messages(
        session,
        direction=direction,
        client=client,
        service=service,
        status_code=status_code,
        error_type=error_type,
        traceparent=traceparent,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )
    return json_response(
        {"items": [_message(r) for r in rows], "next_after": rows[-1].id if rows else after}
    )


@admin_router.get("/messages/verify", responses=ERRORS, summary="Recompute the hash chain")
def verify_messages(session: SessionDep, principal: PrincipalDep) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    result = ndxp.verify_messages(session)
    return json_response(
        {
            "valid": result.valid,
            "checked": result.checked,
            "first_bad_id": result.first_bad_id,
            "reason": result.reason,
        }
    )


@admin_router.get(
    "/messages/{message_id}",
    responses=ERRORS,
    summary="Every logged exchange with this message id (in and out)",
)
def get_message(message_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    authorize(principal, Action.MANAGE_NDXP)
    rows = ndxp.messages_by_id(session, message_id=message_id)
    if not rows:
        raise NotFound(f"no NDXP message {message_id!r} in the log")
    return json_response({"message_id": message_id, "items": [_message(r) for r in rows]})
