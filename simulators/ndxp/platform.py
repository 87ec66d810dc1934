"""NDXP's state, in memory: members (tokens, proof keys), services (OpenAPI documents), access
rights, fault switches and an exchange log of its own. Thread-safe; no I/O."""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.ndxp.errors import BadRequest, Conflict, NotFound, UnknownService
from simulators.ndxp.registry import EnterpriseRegistry

__all__ = [
    "REGISTRY_MEMBER",
    "REGISTRY_SERVICE",
    "Faults",
    "Member",
    "Platform",
    "Right",
    "Service",
    "service_id",
]

REGISTRY_MEMBER = "VN/GOV/000.00.00.H26/DKKD"
REGISTRY_SERVICE = "enterprise"
MEMBER_RE = re.compile(r"^VN/GOV/[A-Za-z0-9][A-Za-z0-9.\-]{0,63}/[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$")
SERVICE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
PROVIDER_URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


def service_id(provider: str, service_code: str) -> str:
    return f"{provider}/{service_code}"


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    name: str
    provider_url: str | None
    token: str
    proof_key: str
    internal: bool = False  # served by NDXP itself (the enterprise registry)

    def public(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "name": self.name, "provider_url": self.provider_url}

    def credentials(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "token": self.token, "proof_key": self.proof_key}


@dataclass(frozen=True, slots=True)
class Service:
    provider: str
    service_code: str
    title: str
    openapi: dict[str, Any]

    @property
    def service_id(self) -> str:
        return service_id(self.provider, self.service_code)

    def public(self) -> dict[str, Any]:
        return {
            "service_id": self.service_id,
            "provider": self.provider,
            "service_code": self.service_code,
            "title": self.title,
        }


@dataclass(frozen=True, slots=True)
class Right:
    client: str
    provider: str
    service_code: str

    def public(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "provider": self.provider,
            "service_code": self.service_code,
            "service_id": service_id(self.provider, self.service_code),
        }


@dataclass
class Faults:
    """`down`: NDXP answers 503 platform.unavailable; `slow_ms`: each routed call waits first."""

    down: bool = False
    slow_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"down": self.down, "slow_ms": self.slow_ms}


@dataclass
class Platform:
    """The national platform's state. `provider_timeout` (seconds) bounds each forwarded call;
    `clock` gives the unix time stamped on forwarded requests."""

    registry: EnterpriseRegistry = field(default_factory=EnterpriseRegistry)
    provider_timeout: float = 10.0
    clock: Callable[[], float] = time.time
    log_size: int = 100_000
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._members: dict[str, Member] = {}
        self._by_token: dict[str, str] = {}
        self._services: dict[str, Service] = {}
        self._rights: set[Right] = set()
        self._log: deque[dict[str, Any]] = deque(maxlen=self.log_size)
        self._add(REGISTRY_MEMBER, "Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp", None, True)
        self.register_service(
            REGISTRY_MEMBER,
            REGISTRY_SERVICE,
            title="National enterprise registry: tax code -> name, status",
            openapi=registry_openapi(),
        )

    # -- members --------------------------------------------------------------------------

    def add_member(self, member_id: str, name: str, provider_url: str | None = None) -> Member:
        """A new member with fresh credentials; it may call the enterprise registry at once."""
        if not MEMBER_RE.match(member_id):
            raise BadRequest(f"member id {member_id!r} is not VN/GOV/<member code>/<subsystem>")
        if not name.strip() or len(name) > 200:
            raise BadRequest("name must be 1..200 characters")
        _check_provider_url(provider_url)
        with self._lock:
            if member_id in self._members:
                raise Conflict(f"member {member_id} already exists")
            member = self._add(member_id, name, provider_url, False)
            self._rights.add(Right(member_id, REGISTRY_MEMBER, REGISTRY_SERVICE))
            return member

    def set_provider_url(self, member_id: str, provider_url: str | None) -> Member:
        _check_provider_url(provider_url)
        with self._lock:
            member = self.member(member_id)
            if member.internal:
                raise BadRequest(f"{member_id} is served by NDXP itself")
            updated = Member(
                member.member_id, member.name, provider_url, member.token, member.proof_key
            )
            self._members[member_id] = updated
            return updated

    def member(self, member_id: str) -> Member:
        with self._lock:
            found = self._members.get(member_id)
        if found is None:
            raise NotFound(f"no member {member_id}")
        return found

    def member_for_token(self, token: str) -> Member | None:
        with self._lock:
            member_id = self._by_token.get(token)
            return None if member_id is None else self._members[member_id]

    def members(self) -> list[Member]:
        with self._lock:
            return sorted(self._members.values(), key=lambda m: m.member_id)

    def _add(self, member_id: str, name: str, provider_url: str | None, internal: bool) -> Member:
        member = Member(
            member_id=member_id,
            name=name,
            provider_url=provider_url,
            token="ndxp-" + secrets.token_urlsafe(24),
            proof_key=secrets.token_hex(32),
            internal=internal,
        )
        self._members[member_id] = member
        self._by_token[member.token] = member_id
        return member

    # -- services -------------------------------------------------------------------------

    def register_service(
        self, provider: str, service_code: str, *, title: str, openapi: dict[str, Any]
    ) -> Service:
        """Register (or replace) one of `provider`'s services."""
        if not SERVICE_CODE_RE.match(service_code):
            raise BadRequest(f"service code {service_code!r} is not [A-Za-z0-9._-]+")
        if not isinstance(openapi, dict) or not isinstance(openapi.get("openapi"), str):
            raise BadRequest("openapi must be an OpenAPI document (an object with 'openapi')")
        service = Service(provider, service_code, title, openapi)
        with self._lock:
            self.member(provider)
            self._services[service.service_id] = service
        return service

    def service(self, provider: str, service_code: str) -> Service:
        with self._lock:
            found = self._services.get(service_id(provider, service_code))
        if found is None:
            raise UnknownService(f"no service {service_id(provider, service_code)}")
        return found

    def service_by_id(self, sid: str) -> Service:
        with self._lock:
            found = self._services.get(sid)
        if found is None:
            raise UnknownService(f"no service {sid}")
        return found

    def services(self) -> list[Service]:
        with self._lock:
            return sorted(self._services.values(), key=lambda s: s.service_id)

    # -- rights ---------------------------------------------------------------------------

    def grant(self, *, client: str, provider: str, service_code: str) -> Right:
        with self._lock:
            self.member(client)
            self.service(provider, service_code)
            right = Right(client, provider, service_code)
            self._rights.add(right)
        return right

    def revoke(self, *, client: str, provider: str, service_code: str) -> bool:
        """Whether there was such a right."""
        with self._lock:
            right = Right(client, provider, service_code)
            had = right in self._rights
            self._rights.discard(right)
        return had

    def may_call(self, *, client: str, provider: str, service_code: str) -> bool:
        with self._lock:
            return Right(client, provider, service_code) in self._rights

    def rights(self, *, provider: str | None = None, member: str | None = None) -> list[Right]:
        """Rights on `provider`'s services; with `member`, only those it gives or holds."""
        with self._lock:
            found = [
                r
                for r in self._rights
                if (provider is None or r.provider == provider)
                and (member is None or member in (r.client, r.provider))
            ]
        return sorted(found, key=lambda r: (r.provider, r.service_code, r.client))

    # -- the exchange log -----------------------------------------------------------------

    def record(self, **fields: Any) -> str:
        """Append one entry; returns its id (the `detail` of an error body)."""
        entry_id = uuid.uuid4().hex
        entry = {"id": entry_id, "at": datetime.now(UTC).isoformat(), **fields}
        with self._lock:
            self._log.append(entry)
        return entry_id

    def log(self, *, message_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` entries, oldest first; only one message's with `message_id`."""
        with self._lock:
            entries = [
                e for e in self._log if message_id is None or e.get("message_id") == message_id
            ]
        return entries[-limit:]

    def log_entry(self, entry_id: str) -> dict[str, Any]:
        with self._lock:
            for entry in reversed(self._log):
                if entry["id"] == entry_id:
                    return entry
        raise NotFound(f"no log entry {entry_id}")


def _check_provider_url(url: str | None) -> None:
    if url is not None and not PROVIDER_URL_RE.match(url):
        raise BadRequest(f"provider_url {url!r} is not an http(s) URL")


def registry_openapi() -> dict[str, Any]:
    """The OpenAPI description of the enterprise registry, as registered in NDXP."""
    enterprise = {
        "type": "object",
        "required": ["tax_code", "name", "status"],
        "properties": {
            "tax_code": {"type": "string", "example": "0314409058"},
            "name": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "closed", "suspended"]},
        },
    }
    error = {
        "type": "object",
        "required": ["type", "message", "detail"],
        "properties": {
            "type": {"type": "string"},
            "message": {"type": "string"},
            "detail": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Enterprise registry (DKKD)", "version": "1.0"},
        "paths": {
            "/enterprises/{tax_code}": {
                "get": {
                    "summary": "One enterprise by tax code (MST, 10 or 13 digits)",
                    "parameters": [
                        {
                            "name": "tax_code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {"content": {"application/json": {"schema": enterprise}}},
                        "404": {"content": {"application/json": {"schema": error}}},
                    },
                }
            },
            "/lookup": {
                "post": {
                    "summary": "Up to 1000 tax codes at once; unknown ones map to null",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["tax_codes"],
                                    "properties": {
                                        "tax_codes": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "maxItems": 1000,
                                        }
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "{results: {code: {name, status}|null}}"}},
                }
            },
        },
    }
