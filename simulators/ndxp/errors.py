"""NDXP's errors, by whose fault they are (X-Road's split); each maps to one HTTP status and one
`type` of the uniform error body `{"type", "message", "detail"}`.

    NdxpError
     ├── CallerFault
     │    ├── Unauthorized        401 caller.unauthorized
     │    ├── BadRequest          400 caller.bad_request
     │    ├── AccessDenied        403 caller.access_denied
     │    ├── UnknownService      404 caller.unknown_service
     │    ├── NotFound            404 caller.not_found
     │    └── Conflict            409 caller.conflict
     ├── PlatformFault
     │    ├── PlatformError       500 platform.error
     │    └── PlatformUnavailable 503 platform.unavailable
     └── ProviderFault
          ├── ProviderUnreachable 502 provider.unreachable
          └── ProviderTimeout     504 provider.timeout
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BadRequest",
    "CallerFault",
    "Conflict",
    "NdxpError",
    "NotFound",
    "PlatformError",
    "PlatformFault",
    "PlatformUnavailable",
    "ProviderFault",
    "ProviderTimeout",
    "ProviderUnreachable",
    "Unauthorized",
    "UnknownService",
]


class NdxpError(Exception):
    status = 500
    type = "platform.error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallerFault(NdxpError):
    status = 400
    type = "caller.bad_request"


class Unauthorized(CallerFault):
    status = 401
    type = "caller.unauthorized"


class BadRequest(CallerFault):
    status = 400
    type = "caller.bad_request"


class AccessDenied(CallerFault):
    status = 403
    type = "caller.access_denied"


class UnknownService(CallerFault):
    status = 404
    type = "caller.unknown_service"


class NotFound(CallerFault):
    status = 404
    type = "caller.not_found"


class Conflict(CallerFault):
    status = 409
    type = "caller.conflict"


class PlatformFault(NdxpError):
    status = 500
    type = "platform.error"


class PlatformError(PlatformFault):
    pass


class PlatformUnavailable(PlatformFault):
    status = 503
    type = "platform.unavailable"


class ProviderFault(NdxpError):
    status = 502
    type = "provider.unreachable"


class ProviderUnreachable(ProviderFault):
    pass


class ProviderTimeout(ProviderFault):
    status = 504
    type = "provider.timeout"
