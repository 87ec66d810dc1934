"""Authorization: every decision about who may do what is made here.

Roles (a key has one, and belongs to one unit):
    admin      runs the hub: units, keys, the catalog, grants, the audit log
    publisher  writes its own unit's datasets (connectors run with publisher keys)
    consumer   reads what its unit was granted

| action            | admin | publisher                         | consumer                    |
|-------------------|-------|-----------------------------------|-----------------------------|
| catalog.browse    | yes   | yes                               | yes                         |
| catalog.manage    | yes   | no  (incl. registry config)       | no                          |
| units.manage      | yes   | no                                | no                          |
| keys.manage       | yes   | no                                | no                          |
| grants.decide     | yes   | no                                | no                          |
| audit.read        | yes   | no                                | no                          |
| connectors.read   | yes   | no                                | no                          |
| records.publish   | yes   | own unit's datasets               | no                          |
| quality.manage    | yes   | own unit's datasets               | no                          |
| quality.validate  | yes   | own unit's datasets               | no                          |
| schemas.register  | yes   | own unit's datasets               | no                          |
| connectors.report | yes   | own unit's connectors             | no                          |
| quarantine.read   | yes   | own unit's datasets               | own unit's datasets         |
| batches.read      | yes   | own unit's batches                | own unit's batches          |
| records.read      | yes   | own unit's datasets, or a grant   | own unit's datasets, or a grant |
| grants.request    | no    | yes (for its unit)                | yes (for its unit)          |
| grants.read       | yes   | own unit's                        | own unit's                  |
| ndxp.manage       | yes   | no  (NDXP rights, services, log)  | no                          |
| rechecks.read     | yes   | own unit's datasets               | own unit's datasets         |

A grant is an approved, unexpired subscription of the caller's unit for the dataset on the
channel used (`rest` for REST and the SSE stream, `kafka` for topic access details).

NDXP members are no principals of the hub: an inbound NDXP call (`/ndxp/...`) is let in by
NDXP's proof, and then by `ndxp_read_access` below (the member's right, kept by admins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from catalog import access, ndxp
from gateway.auth import Principal
from gateway.errors import Forbidden


class Action(StrEnum):
    BROWSE = "catalog.browse"
    MANAGE_CATALOG = "catalog.manage"
    MANAGE_UNITS = "units.manage"
    MANAGE_KEYS = "keys.manage"
    DECIDE_GRANTS = "grants.decide"
    READ_AUDIT = "audit.read"
    READ_CONNECTORS = "connectors.read"
    PUBLISH = "records.publish"
    MANAGE_QUALITY = "quality.manage"
    VALIDATE = "quality.validate"
    REPORT_CONNECTOR = "connectors.report"
    READ_QUARANTINE = "quarantine.read"
    READ_BATCH = "batches.read"
    REQUEST_GRANT = "grants.request"
    READ_GRANT = "grants.read"
    REGISTER_SCHEMA = "schemas.register"
    MANAGE_NDXP = "ndxp.manage"
    READ_RECHECKS = "rechecks.read"


ADMIN_ONLY = frozenset(
    {
        Action.MANAGE_CATALOG,
        Action.MANAGE_UNITS,
        Action.MANAGE_KEYS,
        Action.DECIDE_GRANTS,
        Action.READ_AUDIT,
        Action.READ_CONNECTORS,
        Action.MANAGE_NDXP,
    }
)
# Actions on a unit's own things, for publishers of that unit (and admins).
OWN_UNIT_PUBLISHER = frozenset(
    {
        Action.PUBLISH,
        Action.MANAGE_QUALITY,
        Action.VALIDATE,
        Action.REPORT_CONNECTOR,
        Action.REGISTER_SCHEMA,
    }
)
# Actions on a unit's own things, for any role of that unit (and admins).
OWN_UNIT_ANY_ROLE = frozenset(
    {Action.READ_QUARANTINE, Action.READ_BATCH, Action.READ_GRANT, Action.READ_RECHECKS}
)


def _who(principal: Principal) -> str:
    return f"{principal.role} of unit {principal.unit}"


def authorize(principal: Principal, action: Action, *, unit: str | None = None) -> None:
    """Raise Forbidden unless `principal` may do `action` on something of `unit`."""
    if action is Action.BROWSE:
        return
    if action is Action.REQUEST_GRANT:
        if principal.is_admin:
            raise Forbidden("admins grant access; they do not request it")
        return
    if principal.is_admin:
        return
    if action in ADMIN_ONLY:
        raise Forbidden(
            f"{action} needs the admin role; key {principal.key_id} is {_who(principal)}"
        )
    if action in OWN_UNIT_PUBLISHER:
        if principal.role != "publisher":
            raise Forbidden(
                f"{action} needs a publisher key of unit {unit}; key {principal.key_id} is "
                f"{_who(principal)}"
            )
        if unit != principal.unit:
            raise Forbidden(f"unit {principal.unit} may not {action} for unit {unit}")
        return
    if action in OWN_UNIT_ANY_ROLE:
        if unit != principal.unit:
            raise Forbidden(f"this belongs to unit {unit}, not {principal.unit}")
        return
    raise Forbidden(f"{action} is not allowed")  # an action without a rule is refused


@dataclass(frozen=True, slots=True)
class ReadAccess:
    """How much of a dataset the caller may read: all fields, or a grant's field list."""

    fields: list[str] | None
    subscription_id: str | None


def read_access(
    session: Session,
    principal: Principal,
    *,
    dataset_id: str,
    owner: str,
    channel: str,
    now: datetime,
) -> ReadAccess:
    """Admins and the owner unit read everything; others need an active grant."""
    if principal.is_admin or principal.unit == owner:
        return ReadAccess(fields=None, subscription_id=None)
    grant = access.active_grant(
        session, unit_code=principal.unit, dataset_id=dataset_id, channel=channel, now=now
    )
    if grant is None:
        raise Forbidden(
            f"unit {principal.unit} has no active {channel} grant for {dataset_id}; "
            "request one with POST /v1/subscriptions"
        )
    return ReadAccess(fields=list(grant.fields) if grant.fields else None, subscription_id=grant.id)


class NdxpAccessDenied(Exception):
    """An NDXP member without a right in the hub for the dataset (answered caller.access_denied)."""


def ndxp_read_access(session: Session, *, client: str, dataset_id: str) -> ReadAccess:
    """An NDXP member reads a shared dataset only under its right, and only the right's fields."""
    right = ndxp.get_right(session, client=client, dataset_id=dataset_id)
    if right is None:
        raise NdxpAccessDenied(f"{client} holds no access right for {dataset_id} in the hub")
    return ReadAccess(fields=list(right.fields) if right.fields else None, subscription_id=None)
