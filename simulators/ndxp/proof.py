"""The two hashes of the protocol (docs/ndxp-protocol.md), as pure functions.

- proof, on every request NDXP forwards to a provider (header `X-NDXP-Proof`):
  hex HMAC-SHA256, keyed with the UTF-8 bytes of the provider's `proof_key`, over the UTF-8 of
  the seven lines `<message id>`, `<client>`, `<service id>`, `<method>`, `<target>`,
  `<timestamp>`, `<hex sha256(body)>` joined by `\\n` (no trailing newline); `target` is the
  request target exactly as sent to the provider, path and query, percent-encoding untouched
  (`/ndxp/<service code>/<path>`, plus `?<query>` when there is a query);
- request hash, on every answer to the caller (header `X-Road-Request-Hash`):
  hex sha256 of the UTF-8 of `"<message id>\\n<hex sha256(request body)>"`.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["body_hash", "proof", "proof_message", "request_hash", "verify_proof"]


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def proof_message(
    *, message_id: str, client: str, service_id: str, method: str, target: str,
    timestamp: str, body: bytes,
) -> bytes:  # fmt: skip
    fields = (message_id, client, service_id, method.upper(), target, timestamp, body_hash(body))
    return "\n".join(fields).encode()


def proof(
    key: str, *, message_id: str, client: str, service_id: str, method: str, target: str,
    timestamp: str, body: bytes,
) -> str:  # fmt: skip
    """The `X-NDXP-Proof` of one forwarded request, keyed with the provider's proof key."""
    message = proof_message(
        message_id=message_id, client=client, service_id=service_id, method=method,
        target=target, timestamp=timestamp, body=body,
    )  # fmt: skip
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def verify_proof(
    key: str, given: str, *, message_id: str, client: str, service_id: str, method: str,
    target: str, timestamp: str, body: bytes,
) -> bool:  # fmt: skip
    """Whether `given` is the proof of this forwarded request (see `proof`)."""
    expected = proof(
        key, message_id=message_id, client=client, service_id=service_id, method=method,
        target=target, timestamp=timestamp, body=body,
    )  # fmt: skip
    return hmac.compare_digest(expected, given)


def request_hash(message_id: str, body: bytes) -> str:
    """The `X-Road-Request-Hash` binding an answer to the request it answers."""
    return hashlib.sha256(f"{message_id}\n{body_hash(body)}".encode()).hexdigest()
