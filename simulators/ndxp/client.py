"""Plain httpx helpers for NDXP's admin calls, for the hub's CLI, the demo and tests."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["NdxpAdminError", "bootstrap_member", "set_faults"]


class NdxpAdminError(RuntimeError):
    """NDXP refused an admin call; `status` and `body` are its answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"NDXP answered {status}: {body}")
        self.status = status
        self.body = body


def bootstrap_member(
    base_url: str,
    admin_token: str,
    member_id: str,
    name: str,
    provider_url: str | None = None,
    *,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Create a member; returns `{member_id, token, proof_key, name, provider_url}`."""
    body = {"member_id": member_id, "name": name, "provider_url": provider_url}
    return _admin_call(base_url, admin_token, "POST", "/members", body, timeout, expect=201)


def set_faults(
    base_url: str,
    admin_token: str,
    *,
    down: bool | None = None,
    slow_ms: int | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Switch NDXP's injected faults; returns the faults now in force."""
    body = {"down": down, "slow_ms": slow_ms}
    return _admin_call(base_url, admin_token, "POST", "/faults", body, timeout, expect=200)


def _admin_call(
    base_url: str,
    admin_token: str,
    method: str,
    path: str,
    body: dict[str, Any],
    timeout: float,
    *,
    expect: int,
) -> dict[str, Any]:
    response = httpx.request(
        method,
        base_url.rstrip("/") + path,
        json=body,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=timeout,
        trust_env=False,
    )
    if response.status_code != expect:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        raise NdxpAdminError(response.status_code, answer)
    result: dict[str, Any] = response.json()
    return result
