"""NDXP's HTTP API (docs/ndxp-protocol.md): members, services, rights, routing with proof, the
enterprise registry behind the same routing, fault switches and the exchange log."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

import httpx
import orjson
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from simulators.ndxp.errors import (
    AccessDenied,
    BadRequest,
    NdxpError,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    ProviderTimeout,
    ProviderUnreachable,
    Unauthorized,
)
from simulators.ndxp.platform import Member, Platform, service_id
from simulators.ndxp.proof import body_hash, proof, request_hash
from simulators.ndxp.registry import EnterpriseRegistry

__all__ = ["LOOKUP_LIMIT", "create_app"]

LOOKUP_LIMIT = 1000
MAX_BODY = 16 * 1024 * 1024
MESSAGE_ID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
HEADER_VALUE_RE = re.compile(r"^[\x20-\x7e]{0,500}$")
TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
ALWAYS_UP = frozenset({"/faults", "/health"})


# -- request bodies -------------------------------------------------------------------------


class MemberCreate(BaseModel):
    member_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    provider_url: str | None = Field(default=None, max_length=500)


class MemberUpdate(BaseModel):
    provider_url: str | None = Field(default=None, max_length=500)


class ServiceCreate(BaseModel):
    service_code: str = Field(max_length=128)
    title: str = Field(default="", max_length=500)
    openapi: dict[str, Any]


class RightBody(BaseModel):
    client: str = Field(max_length=200)
    service_code: str = Field(max_length=128)
    provider: str | None = Field(default=None, max_length=200)  # the caller's own when omitted


class FaultsUpdate(BaseModel):
    down: bool | None = None
    slow_ms: int | None = Field(default=None, ge=0, le=600_000)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called: a member, or the platform admin (`member` None)."""

    member: Member | None

    @property
    def is_admin(self) -> bool:
        return self.member is None

    def require_member(self) -> Member:
        if self.member is None:
            raise AccessDenied("the platform admin is not a member: use a member's token")
        return self.member


def authenticate(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Caller:
    """The platform admin or the member whose bearer token this is."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required")
    if hmac.compare_digest(token.encode(), request.app.state.admin_token.encode()):
        return Caller(None)
    member = request.app.state.platform.member_for_token(token)
    if member is None:
        raise Unauthorized("unknown token")
    return Caller(member)


def require_admin(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    if not caller.is_admin:
        raise AccessDenied("only the platform admin may do this")
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
AdminDep = Annotated[Caller, Depends(require_admin)]


def create_app(platform: Platform, *, admin_token: str) -> FastAPI:
    """The platform's API over `platform`; `admin_token` authenticates the platform admin."""
    if not admin_token:
        raise ValueError("an admin token is required")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
            app.state.http = client
            yield

    app = FastAPI(title="NDXP (simulated)", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.platform = platform
    app.state.admin_token = admin_token

    # -- errors ---------------------------------------------------------------------------

    def error_response(
        request: Request, exc: NdxpError, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        entry = platform.record(
            kind="error",
            method=request.method,
            path=request.url.path,
            status=exc.status,
            error_type=exc.type,
            message=exc.message,
        )
        body = {"type": exc.type, "message": exc.message, "detail": entry}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    async def on_ndxp_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NdxpError)
        return error_response(request, exc)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return error_response(request, BadRequest(f"invalid request: {problems}"[:1000]))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: NdxpError = NotFound("no such resource")
        if exc.status_code != 404:
            error = BadRequest(str(exc.detail))
            error.status = exc.status_code
        return error_response(request, error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        return error_response(request, PlatformError(f"internal error: {type(exc).__name__}"))

    app.add_exception_handler(NdxpError, on_ndxp_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)

    @app.middleware("http")
    async def down_switch(request: Request, call_next: Any) -> Response:
        if platform.faults.down and request.url.path not in ALWAYS_UP:
            message_id = request.headers.get("x-road-id")
            echo = {"X-Road-Id": message_id} if message_id else None
            return error_response(request, PlatformUnavailable("NDXP is down"), echo)
        response: Response = await call_next(request)
        return response

    # -- platform -------------------------------------------------------------------------

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "members": len(platform.members()),
            "services": len(platform.services()),
        }

    @app.get("/faults")
    def get_faults(caller: AdminDep) -> dict[str, Any]:
        return platform.faults.to_dict()

    @app.post("/faults")
    def set_faults(body: FaultsUpdate, caller: AdminDep) -> dict[str, Any]:
        if body.down is not None:
            platform.faults.down = body.down
        if body.slow_ms is not None:
            platform.faults.slow_ms = body.slow_ms
        return platform.faults.to_dict()

    @app.get("/log")
    def get_log(
        caller: AdminDep,
        message_id: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> dict[str, Any]:
        return {"entries": platform.log(message_id=message_id, limit=limit)}

    @app.get("/log/{entry_id}")
    def get_log_entry(entry_id: str, caller: AdminDep) -> dict[str, Any]:
        return platform.log_entry(entry_id)

    # -- members --------------------------------------------------------------------------

    @app.post("/members", status_code=201)
    def create_member(body: MemberCreate, caller: AdminDep) -> dict[str, Any]:
        member = platform.add_member(body.member_id, body.name, body.provider_url)
        return {**member.credentials(), "name": member.name, "provider_url": member.provider_url}

    @app.get("/members")
    def list_members(caller: CallerDep) -> list[dict[str, Any]]:
        return [m.public() for m in platform.members()]

    @app.patch("/members/{member_id:path}")
    def update_member(member_id: str, body: MemberUpdate, caller: AdminDep) -> dict[str, Any]:
        return platform.set_provider_url(member_id, body.provider_url).public()

    # -- services -------------------------------------------------------------------------

    @app.post("/services", status_code=201)
    def register_service(body: ServiceCreate, caller: CallerDep) -> dict[str, Any]:
        member = caller.require_member()
        service = platform.register_service(
            member.member_id, body.service_code, title=body.title, openapi=body.openapi
        )
        return service.public()

    @app.get("/services")
    def list_services(caller: CallerDep) -> list[dict[str, Any]]:
        return [s.public() for s in platform.services()]

    @app.get("/services/{sid:path}/openapi")
    def service_openapi(sid: str, caller: CallerDep) -> dict[str, Any]:
        return platform.service_by_id(sid).openapi

    # -- rights ---------------------------------------------------------------------------

    def right_provider(caller: Caller, body: RightBody) -> str:
        if caller.member is None:
            if body.provider is None:
                raise BadRequest("the platform admin must name the provider")
            return body.provider
        if body.provider not in (None, caller.member.member_id):
            raise AccessDenied("a member gives rights on its own services only")
        return caller.member.member_id

    @app.post("/rights", status_code=201)
    def grant_right(body: RightBody, caller: CallerDep) -> dict[str, Any]:
        provider = right_provider(caller, body)
        return platform.grant(
            client=body.client, provider=provider, service_code=body.service_code
        ).public()

    @app.delete("/rights", status_code=204)
    def revoke_right(body: RightBody, caller: CallerDep) -> Response:
        provider = right_provider(caller, body)
        platform.revoke(client=body.client, provider=provider, service_code=body.service_code)
        return Response(status_code=204)

    @app.get("/rights")
    def list_rights(
        caller: CallerDep, provider: Annotated[str | None, Query(max_length=200)] = None
    ) -> list[dict[str, Any]]:
        member = None if caller.member is None else caller.member.member_id
        return [r.public() for r in platform.rights(provider=provider, member=member)]

    # -- routing --------------------------------------------------------------------------

    @app.api_route("/r/{target:path}", methods=["GET", "POST"])
    async def route(request: Request, target: str) -> Response:
        started = time.perf_counter()
        headers = request.headers
        message_id = headers.get("x-road-id")
        exchange: dict[str, Any] = {
            "kind": "exchange",
            "message_id": message_id,
            "client": headers.get("x-road-client"),
            "service_id": None,
            "method": request.method,
            "path": request.url.path,
            "user_id": headers.get("x-road-userid"),
            "issue": headers.get("x-road-issue"),
            "traceparent": None,
            "request_hash": None,
        }
        echo: dict[str, str] = {}
        try:
            member = authenticate(request, headers.get("authorization")).require_member()
            client = _client_of(member, headers.get("x-road-client"))
            if message_id is None or not MESSAGE_ID_RE.match(message_id):
                raise BadRequest("X-Road-Id must be 1..200 printable characters")
            echo["X-Road-Id"] = message_id
            for name in ("x-road-userid", "x-road-issue"):
                if not HEADER_VALUE_RE.match(headers.get(name, "")):
                    raise BadRequest(f"{name} must be up to 500 printable characters")
            body = await request.body()
            if len(body) > MAX_BODY:
                raise BadRequest(f"a request body may carry up to {MAX_BODY} bytes")
            exchange["request_hash"] = echo["X-Road-Request-Hash"] = request_hash(message_id, body)
            trace = _traceparent(headers.get("traceparent"))
            exchange["traceparent"] = echo["traceparent"] = trace
            provider, code, path = _split_target(_raw_path(request))
            exchange["service_id"] = service_id(provider, code)
            platform.service(provider, code)
            if not platform.may_call(client=client, provider=provider, service_code=code):
                raise AccessDenied(f"{client} has no right on {service_id(provider, code)}")
            if platform.faults.slow_ms:
                await asyncio.sleep(platform.faults.slow_ms / 1000)
            target_member = platform.member(provider)
            content_type: str | None
            if target_member.internal:
                status, content, content_type = _serve_registry(
                    platform.registry, request.method, path, body
                )
            else:
                status, content, content_type = await _forward(
                    request.app.state.http,
                    platform,
                    target_member,
                    client=client,
                    code=code,
                    path=path,
                    query=request.scope.get("query_string", b"").decode("latin-1"),
                    method=request.method,
                    headers=headers,
                    body=body,
                    message_id=message_id,
                    trace=trace,
                )
        except NdxpError as exc:
            entry = platform.record(
                **exchange,
                status=exc.status,
                error_type=exc.type,
                message=exc.message,
                response_hash=None,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            body_out = {"type": exc.type, "message": exc.message, "detail": entry}
            return JSONResponse(body_out, status_code=exc.status, headers=echo)
        platform.record(
            **exchange,
            status=status,
            error_type=None,
            response_hash=body_hash(content),
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        out_headers = dict(echo)
        if content_type:
            out_headers["content-type"] = content_type
        return Response(content=content, status_code=status, headers=out_headers)

    return app


def _serve_registry(
    registry: EnterpriseRegistry, method: str, path: str, body: bytes
) -> tuple[int, bytes, str]:
    """NDXP's own provider, answered in-process behind the same routing."""
    if method == "GET" and path.startswith("/enterprises/") and path.count("/") == 2:
        code = unquote(path.removeprefix("/enterprises/"))
        enterprise = registry.lookup(code)
        if enterprise is None:
            raise NotFound(f"no enterprise with tax code {code!r}")
        return 200, orjson.dumps(enterprise.to_dict()), "application/json"
    if method == "POST" and path == "/lookup":
        try:
            codes = orjson.loads(body)["tax_codes"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise BadRequest('the body must be {"tax_codes": [...]}') from exc
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise BadRequest("tax_codes must be a list of strings")
        if len(codes) > LOOKUP_LIMIT:
            raise BadRequest(f"at most {LOOKUP_LIMIT} tax codes per lookup")
        results = {
            code: None if e is None else {"name": e.name, "status": e.status}
            for code, e in registry.lookup_many(codes).items()
        }
        return 200, orjson.dumps({"results": results}), "application/json"
    raise NotFound(f"the enterprise registry has no operation {method} {path or '/'}")


def _client_of(member: Member, header: str | None) -> str:
    if not header:
        raise BadRequest("X-Road-Client is required")
    if header != member.member_id:
        raise AccessDenied(f"X-Road-Client {header!r} is not the member of this token")
    return header


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).decode("latin-1")
    return request.url.path


def _split_target(raw_path: str) -> tuple[str, str, str]:
    """`/r/VN/GOV/<code>/<subsystem>/<service>/<path>` -> (provider, service code, `/<path>`)."""
    parts = raw_path.removeprefix("/r/").split("/", 5)
    if len(parts) < 5 or not all(parts[:5]):
        raise BadRequest("route as /r/<provider member id>/<service code>/<path>")
    path = "/" + parts[5] if len(parts) == 6 else ""
    return "/".join(parts[:4]), parts[4], path


def _traceparent(given: str | None) -> str:
    """The caller's W3C traceparent, or a new one when it is missing or malformed."""
    match = TRACEPARENT_RE.match(given or "")
    if match and match.group(1) != "ff" and set(match.group(2)) != {"0"}:
        return str(given)
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


async def _forward(
    http: httpx.AsyncClient,
    platform: Platform,
    provider: Member,
    *,
    client: str,
    code: str,
    path: str,
    query: str,
    method: str,
    headers: Any,
    body: bytes,
    message_id: str,
    trace: str,
) -> tuple[int, bytes, str | None]:
    """Send the call on to the provider with proof; its answer, whatever it is."""
    if provider.provider_url is None:
        raise ProviderUnreachable(f"{provider.member_id} has no provider URL")
    url = httpx.URL(provider.provider_url.rstrip("/") + f"/ndxp/{code}{path}")
    if query:
        url = url.copy_with(query=query.encode("latin-1"))
    target = url.raw_path.decode("ascii")  # the request target exactly as sent
    timestamp = str(int(platform.clock()))
    sid = service_id(provider.member_id, code)
    forwarded = {
        "X-Road-Client": client,
        "X-Road-Service": sid,
        "X-Road-Id": message_id,
        "traceparent": trace,
        "X-NDXP-Timestamp": timestamp,
        "X-NDXP-Proof": proof(
            provider.proof_key, message_id=message_id, client=client, service_id=sid,
            method=method, target=target, timestamp=timestamp, body=body,
        ),
    }  # fmt: skip
    for name, out in (
        ("x-road-userid", "X-Road-UserId"),
        ("x-road-issue", "X-Road-Issue"),
        ("tracestate", "tracestate"),
        ("content-type", "Content-Type"),
        ("accept", "Accept"),
    ):
        if headers.get(name):
            forwarded[out] = headers[name]
    try:
        response = await http.request(
            method, url, content=body, headers=forwarded, timeout=platform.provider_timeout
        )
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(
            f"{provider.member_id} did not answer within {platform.provider_timeout} s"
        ) from exc
    except httpx.HTTPError as exc:
        raise ProviderUnreachable(
            f"{provider.member_id} is unreachable: {type(exc).__name__}"
        ) from exc
    return response.status_code, response.content, response.headers.get("content-type")
