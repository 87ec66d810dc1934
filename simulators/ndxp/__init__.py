"""The simulated national data-exchange platform (NDXP, modelled on X-Road): members,
services, rights, routing with proof, and its own provider, the national enterprise registry.
The protocol is docs/ndxp-protocol.md. Imports nothing of the hub."""

from __future__ import annotations

from simulators.ndxp.app import LOOKUP_LIMIT, create_app
from simulators.ndxp.client import NdxpAdminError, bootstrap_member, set_faults
from simulators.ndxp.platform import (
    REGISTRY_MEMBER,
    REGISTRY_SERVICE,
    Faults,
    Member,
    Platform,
    Right,
    Service,
    service_id,
)
from simulators.ndxp.proof import body_hash, proof, request_hash, verify_proof
from simulators.ndxp.registry import (
    Enterprise,
    EnterpriseRegistry,
    simulated_msts,
    unknown_mst,
)
from simulators.ndxp.server import DEFAULT_PORT, free_port, running, serve

__all__ = [
    "DEFAULT_PORT",
    "LOOKUP_LIMIT",
    "REGISTRY_MEMBER",
    "REGISTRY_SERVICE",
    "Enterprise",
    "EnterpriseRegistry",
    "Faults",
    "Member",
    "NdxpAdminError",
    "Platform",
    "Right",
    "Service",
    "body_hash",
    "bootstrap_member",
    "create_app",
    "free_port",
    "proof",
    "request_hash",
    "running",
    "serve",
    "service_id",
    "set_faults",
    "simulated_msts",
    "unknown_mst",
    "verify_proof",
]
