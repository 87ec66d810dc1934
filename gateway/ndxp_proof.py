"""NDXP's proof on a forwarded request (docs/ndxp-protocol.md): hex HMAC-SHA256 keyed with the
proof key NDXP shares with the hub, over

    <message id> LF <client> LF <service id> LF <METHOD> LF <target> LF <timestamp> LF
    <hex sha256(body)>

where `target` is the request target as received: the raw path, plus `?<query>` when there is
a query string. Pure functions; the route decides what a failed check answers."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["proof_problem", "sign"]


def sign(
    key: str,
    *,
    message_id: str,
    client: str,
    service_id: str,
    method: str,
    target: str,
    timestamp: str,
    body: bytes,
) -> str:
    text = "\n".join(
        (
            message_id,
            client,
            service_id,
            method.upper(),
            target,
            timestamp,
            hashlib.sha256(body).hexdigest(),
        )
    )
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def proof_problem(
    key: str,
    given: str | None,
    *,
    message_id: str | None,
    client: str | None,
    service_id: str,
    method: str,
    target: str,
    timestamp: str | None,
    body: bytes,
    now: float,
    window_seconds: int,
) -> str | None:
    """Why the request does not carry NDXP's valid proof, or None when it does."""
    if not given or not timestamp or not message_id or not client:
        return (
            "no NDXP proof (X-NDXP-Proof, X-NDXP-Timestamp, X-Road-Id, X-Road-Client): "
            "this service is reached through NDXP only"
        )
    try:
        stamp = int(timestamp)
    except ValueError:
        return "X-NDXP-Timestamp is not a unix time in seconds"
    if abs(now - stamp) > window_seconds:
        return f"the proof's timestamp is more than {window_seconds} s away from the hub's clock"
    expected = sign(
        key,
        message_id=message_id,
        client=client,
        service_id=service_id,
        method=method,
        target=target,
        timestamp=timestamp,
        body=body,
    )
    # Bytes: compare_digest refuses str with non-ASCII characters (headers are latin-1).
    if not hmac.compare_digest(
        expected.encode(), given.strip().lower().encode("latin-1", "replace")
    ):
        return "the NDXP proof does not match this request"
    return None
