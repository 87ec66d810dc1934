"""Response helpers shared by the routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gateway.api_models import ErrorBody

# Documented error answers (the uniform body) for OpenAPI.
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 410, 413, 422, 503)
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """orjson-encoded JSON: the hot read paths skip pydantic serialisation."""
    return Response(
        # Naive datetimes are UTC (SQLite hands them back without their offset): say so.
        orjson.dumps(body, option=orjson.OPT_NAIVE_UTC),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
