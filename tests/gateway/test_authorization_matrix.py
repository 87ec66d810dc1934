"""Every route x every kind of caller: the outcome documented in gateway/policy.py.

The route list comes from the app's own OpenAPI document, so a new route without a row here
fails `test_every_route_is_in_the_matrix`."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.factories import einvoices
from tests.support import Hub

ROLES = (
    "admin",
    "publisher_own",  # TCT publisher: tax.einvoice is TCT's
    "publisher_other",  # KBNN publisher
    "consumer_own",  # TCT consumer
    "consumer_other",  # KBNN consumer, no grant
    "consumer_granted",  # TCHQ consumer with an approved REST grant on tax.einvoice
    "no_key",
    "revoked_key",
)
READERS = {"admin", "publisher_own", "consumer_own", "consumer_granted"}
EVERYONE = set(ROLES) - {"no_key", "revoked_key"}
ADMIN = {"admin"}
OWN_PUBLISHER = {"admin", "publisher_own"}
OWN_UNIT = {"admin", "publisher_own", "consumer_own"}
NON_ADMIN = EVERYONE - ADMIN
_unique = itertools.count()


@dataclass
class World:
    """Keys, a batch, a subscription, a connector: the things the routes are called on."""

    hub: Hub
    keys: dict[str, str] = field(default_factory=dict)
    batch_id: str = ""
    kbnn_subscription: str = ""
    kbnn_kafka_subscription: str = ""

    def headers(self, role: str) -> dict[str, str]:
        if role == "no_key":
            return {}
        return self.hub.auth(self.keys[role])

    def throwaway_key(self) -> str:
        response = self.hub.client.post(
            "/v1/keys", json={"unit": "THTK", "role": "consumer"}, headers=self.hub.admin
        )
        return str(response.json()["id"])

    def subscription(self, *, approved: bool, channel: str = "rest") -> str:
        response = self.hub.client.post(
            "/v1/subscriptions",
            json={"dataset_id": "tax.einvoice", "purpose": "matrix test of grants",
                  "channel": channel},
            headers=self.headers("consumer_other"),
        )
        subscription_id = str(response.json()["id"])
        if approved:
            self.hub.client.post(
                f"/v1/subscriptions/{subscription_id}/approve", headers=self.hub.admin
            )
        return subscription_id


@pytest.fixture
def world(hub: Hub) -> World:
    w = World(hub=hub, keys={"admin": hub.settings.admin_key})
    for role, unit, kind in (
        ("publisher_own", "TCT", "publisher"),
        ("publisher_other", "KBNN", "publisher"),
        ("consumer_own", "TCT", "consumer"),
        ("consumer_other", "KBNN", "consumer"),
        ("consumer_granted", "TCHQ", "consumer"),
    ):
        w.keys[role] = hub.new_key(unit, kind)
    revoked = hub.client.post(
        "/v1/keys", json={"unit": "TCT", "role": "publisher"}, headers=hub.admin
    ).json()
    w.keys["revoked_key"] = revoked["key"]
    assert hub.client.delete(f"/v1/keys/{revoked['id']}", headers=hub.admin).status_code == 200
    answer = hub.client.post(
        "/v1/datasets/tax.einvoice/records", json={"records": einvoices(2)},
        headers=w.headers("publisher_own"),
    ).json()
    w.batch_id = answer["batch_id"]
    granted = hub.client.post(
        "/v1/subscriptions",
        json={"dataset_id": "tax.einvoice", "purpose": "customs risk analysis"},
        headers=w.headers("consumer_granted"),
    ).json()
    hub.client.post(f"/v1/subscriptions/{granted['id']}/approve", headers=hub.admin)
    w.kbnn_subscription = w.subscription(approved=False)
    w.kbnn_kafka_subscription = w.subscription(approved=True, channel="kafka")
    hub.client.post(
        "/v1/connectors/tax/heartbeat", json={"dataset_id": "tax.einvoice"},
        headers=w.headers("publisher_own"),
    )
    return w


Call = Callable[[World], tuple[str, Any]]  # -> (concrete path, json body or None)


def fixed(path: str, body: Any = None) -> Call:
    return lambda w: (path, body)


def descriptor(_: World) -> tuple[str, Any]:
    n = next(_unique)
    return "/v1/datasets", {
        "id": f"tax.matrix_{n}", "title": "matrix", "owner": "TCT", "domain": "tax",
        "classification": "internal", "key": "k",
        "schema": {"type": "record", "name": "M", "fields": [{"name": "k", "type": "string"}]},
    }


def new_unit(_: World) -> tuple[str, Any]:
    return "/v1/units", {"code": f"MATRIX{next(_unique)}", "name": "matrix unit"}


TAX_SCHEMA_SAME = "tax_schema_same"  # placeholder resolved at call time


def same_schema(w: World) -> tuple[str, Any]:
    schema = w.hub.client.get("/v1/datasets/tax.einvoice", headers=w.hub.admin).json()["schema"]
    return "/v1/datasets/tax.einvoice/schemas", {"schema": schema}


def registry_same_schema(w: World) -> tuple[str, Any]:
    schema = w.hub.client.get("/v1/datasets/tax.einvoice", headers=w.hub.admin).json()["schema"]
    return "/registry/subjects/fdxp.tax.einvoice-value/versions", {"schema": json.dumps(schema)}


def registry_lookup(w: World) -> tuple[str, Any]:
    _, body = registry_same_schema(w)
    return "/registry/subjects/fdxp.tax.einvoice-value", body


def registry_compat(w: World) -> tuple[str, Any]:
    _, body = registry_same_schema(w)
    return "/registry/compatibility/subjects/fdxp.tax.einvoice-value/versions/latest", body


def registry_compat_all(w: World) -> tuple[str, Any]:
    _, body = registry_same_schema(w)
    return "/registry/compatibility/subjects/fdxp.tax.einvoice-value/versions", body


def quality_same(w: World) -> tuple[str, Any]:
    suite = w.hub.client.get("/v1/datasets/tax.einvoice/quality", headers=w.hub.admin).json()
    return "/v1/datasets/tax.einvoice/quality", {"expectations": suite["expectations"]}


def decide(decision: str) -> Call:
    def call(w: World) -> tuple[str, Any]:
        subscription_id = w.subscription(approved=decision == "revoke")
        return f"/v1/subscriptions/{subscription_id}/{decision}", {}

    return call


def key_action(suffix: str) -> Call:
    return lambda w: (f"/v1/keys/{w.throwaway_key()}{suffix}", None)


REQUEST = {"dataset_id": "tax.einvoice", "purpose": "a purpose of ten characters"}
MEMBER = "VN/GOV/000.00.00.G09/BCT"
RIGHT = {"client": MEMBER, "dataset_id": "tax.einvoice"}
D = "/v1/datasets/tax.einvoice"

# (method, OpenAPI path) -> (how to call it, who gets through)
MATRIX: dict[tuple[str, str], tuple[Call, set[str]]] = {
    ("GET", "/healthz"): (fixed("/healthz"), set(ROLES)),
    ("GET", "/readyz"): (fixed("/readyz"), set(ROLES)),
    ("POST", "/v1/datasets/{dataset_id}/records"): (
        lambda w: (f"{D}/records", {"records": einvoices(1, seed=next(_unique))}),
        OWN_PUBLISHER,
    ),
    ("GET", "/v1/datasets/{dataset_id}/records"): (fixed(f"{D}/records"), READERS),
    ("GET", "/v1/datasets/{dataset_id}/stream"): (
        fixed(f"{D}/stream?idle_timeout=0.05"), READERS
    ),
    ("GET", "/v1/datasets/{dataset_id}/quarantine"): (fixed(f"{D}/quarantine"), OWN_UNIT),
    ("POST", "/v1/datasets/{dataset_id}/replay"): (fixed(f"{D}/replay", {}), ADMIN),
    ("GET", "/v1/datasets/{dataset_id}/quality"): (fixed(f"{D}/quality"), EVERYONE),
    ("PUT", "/v1/datasets/{dataset_id}/quality"): (quality_same, OWN_PUBLISHER),
    ("POST", "/v1/datasets/{dataset_id}/validate"): (
        fixed(f"{D}/validate", {"records": einvoices(1)}), OWN_PUBLISHER
    ),
    ("GET", "/v1/datasets/{dataset_id}/quality/runs"): (fixed(f"{D}/quality/runs"), EVERYONE),
    ("GET", "/v1/datasets"): (fixed("/v1/datasets"), EVERYONE),
    ("POST", "/v1/datasets"): (descriptor, ADMIN),
    ("GET", "/v1/datasets/{dataset_id}"): (fixed(D), EVERYONE),
    ("PATCH", "/v1/datasets/{dataset_id}"): (fixed(D, {"sla": {"freshness": "PT24H"}}), ADMIN),
    ("PUT", "/v1/datasets/{dataset_id}/status"): (fixed(f"{D}/status", {"status": "active"}),
                                                  ADMIN),
    ("GET", "/v1/datasets/{dataset_id}/descriptor"): (fixed(f"{D}/descriptor"), EVERYONE),
    ("GET", "/v1/datasets/{dataset_id}/schemas"): (fixed(f"{D}/schemas"), EVERYONE),
    ("POST", "/v1/datasets/{dataset_id}/schemas"): (same_schema, OWN_PUBLISHER),
    ("GET", "/v1/datasets/{dataset_id}/lineage"): (fixed(f"{D}/lineage"), EVERYONE),
    ("GET", "/v1/batches/{batch_id}"): (lambda w: (f"/v1/batches/{w.batch_id}", None), OWN_UNIT),
    ("POST", "/v1/keys"): (fixed("/v1/keys", {"unit": "THTK", "role": "consumer"}), ADMIN),
    ("GET", "/v1/keys"): (fixed("/v1/keys"), ADMIN),
    ("GET", "/v1/keys/{key_id}"): (key_action(""), ADMIN),
    ("DELETE", "/v1/keys/{key_id}"): (key_action(""), ADMIN),
    ("POST", "/v1/keys/{key_id}/rotate"): (key_action("/rotate"), ADMIN),
    ("GET", "/v1/units"): (fixed("/v1/units"), EVERYONE),
    ("POST", "/v1/units"): (new_unit, ADMIN),
    ("GET", "/v1/units/{code}"): (fixed("/v1/units/TCT"), EVERYONE),
    ("PATCH", "/v1/units/{code}"): (fixed("/v1/units/TCHQ", {"name": "Tổng cục Hải quan"}),
                                    ADMIN),
    ("POST", "/v1/subscriptions"): (fixed("/v1/subscriptions", REQUEST), NON_ADMIN),
    ("GET", "/v1/subscriptions"): (fixed("/v1/subscriptions"), EVERYONE),
    ("GET", "/v1/subscriptions/{subscription_id}"): (
        lambda w: (f"/v1/subscriptions/{w.kbnn_subscription}", None),
        {"admin", "publisher_other", "consumer_other"},
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/approve"): (decide("approve"), ADMIN),
    ("POST", "/v1/subscriptions/{subscription_id}/reject"): (decide("reject"), ADMIN),
    ("POST", "/v1/subscriptions/{subscription_id}/revoke"): (decide("revoke"), ADMIN),
    ("GET", "/v1/subscriptions/{subscription_id}/kafka"): (
        lambda w: (f"/v1/subscriptions/{w.kbnn_kafka_subscription}/kafka", None),
        {"admin", "publisher_other", "consumer_other"},
    ),
    ("POST", "/v1/connectors/{name}/heartbeat"): (
        fixed("/v1/connectors/tax/heartbeat", {"dataset_id": "tax.einvoice"}), OWN_PUBLISHER
    ),
    ("GET", "/v1/connectors"): (fixed("/v1/connectors"), ADMIN),
    ("GET", "/v1/audit"): (fixed("/v1/audit"), ADMIN),
    ("GET", "/v1/audit/verify"): (fixed("/v1/audit/verify"), ADMIN),
    ("GET", "/v1/catalog.jsonld"): (fixed("/v1/catalog.jsonld"), EVERYONE),
    ("GET", "/v1/datasets/{dataset_id}/rechecks"): (fixed(f"{D}/rechecks"), OWN_UNIT),
    ("GET", "/v1/ndxp/rights"): (fixed("/v1/ndxp/rights"), ADMIN),
    ("POST", "/v1/ndxp/rights"): (fixed("/v1/ndxp/rights", RIGHT), ADMIN),
    ("DELETE", "/v1/ndxp/rights"): (
        fixed(f"/v1/ndxp/rights?client={MEMBER}&dataset_id=tax.einvoice"), ADMIN
    ),
    ("POST", "/v1/ndxp/services/register"): (fixed("/v1/ndxp/services/register", {}), ADMIN),
    ("GET", "/v1/ndxp/messages"): (fixed("/v1/ndxp/messages"), ADMIN),
    ("GET", "/v1/ndxp/messages/verify"): (fixed("/v1/ndxp/messages/verify"), ADMIN),
    ("GET", "/v1/ndxp/messages/{message_id}"): (fixed("/v1/ndxp/messages/m-1"), ADMIN),
    # Reached through NDXP only: an API key counts for nothing, every caller lacks the proof.
    ("GET", "/ndxp/{dataset_id}/records"): (fixed("/ndxp/tax.einvoice/records"), set()),
    ("GET", "/registry"): (fixed("/registry"), EVERYONE),
    ("GET", "/registry/schemas/types"): (fixed("/registry/schemas/types"), EVERYONE),
    ("GET", "/registry/subjects"): (fixed("/registry/subjects"), EVERYONE),
    ("GET", "/registry/subjects/{subject}/versions"): (
        fixed("/registry/subjects/fdxp.tax.einvoice-value/versions"), EVERYONE
    ),
    ("POST", "/registry/subjects/{subject}/versions"): (registry_same_schema, OWN_PUBLISHER),
    ("GET", "/registry/subjects/{subject}/versions/{version}"): (
        fixed("/registry/subjects/fdxp.tax.einvoice-value/versions/latest"), EVERYONE
    ),
    ("GET", "/registry/subjects/{subject}/versions/{version}/schema"): (
        fixed("/registry/subjects/fdxp.tax.einvoice-value/versions/1/schema"), EVERYONE
    ),
    ("POST", "/registry/subjects/{subject}"): (registry_lookup, EVERYONE),
    ("GET", "/registry/schemas/ids/{schema_id}"): (fixed("/registry/schemas/ids/1"), EVERYONE),
    ("GET", "/registry/schemas/ids/{schema_id}/schema"): (
        fixed("/registry/schemas/ids/1/schema"), EVERYONE
    ),
    ("GET", "/registry/schemas/ids/{schema_id}/versions"): (
        fixed("/registry/schemas/ids/1/versions"), EVERYONE
    ),
    ("GET", "/registry/schemas/ids/{schema_id}/subjects"): (
        fixed("/registry/schemas/ids/1/subjects"), EVERYONE
    ),
    ("POST", "/registry/compatibility/subjects/{subject}/versions/{version}"): (
        registry_compat, EVERYONE
    ),
    ("POST", "/registry/compatibility/subjects/{subject}/versions"): (
        registry_compat_all, EVERYONE
    ),
    ("GET", "/registry/config"): (fixed("/registry/config"), EVERYONE),
    ("PUT", "/registry/config"): (fixed("/registry/config", {"compatibility": "BACKWARD"}),
                                  ADMIN),
    ("GET", "/registry/config/{subject}"): (
        fixed("/registry/config/fdxp.tax.einvoice-value"), EVERYONE
    ),
    ("PUT", "/registry/config/{subject}"): (
        fixed("/registry/config/fdxp.tax.einvoice-value", {"compatibility": "BACKWARD"}), ADMIN
    ),
}
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}
NDXP_PROOF_ONLY = {("GET", "/ndxp/{dataset_id}/records")}


def routes_of(hub: Hub) -> set[tuple[str, str]]:
    spec = hub.client.get("/openapi.json").json()
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


def test_every_route_is_in_the_matrix(hub: Hub) -> None:
    routes = routes_of(hub)
    assert routes - set(MATRIX) == set(), "routes without a row in the authorization matrix"
    assert set(MATRIX) - routes == set(), "matrix rows for routes that do not exist"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_authorization_matrix(world: World) -> None:
    """Outcome for each route and caller. Runs on SQLite only: the decisions are in Python
    (gateway/policy.py), the same on both databases, and the matrix makes ~500 calls."""
    hub = world.hub
    failures = []
    for (method, template), (call, allowed) in sorted(MATRIX.items()):
        for role in ROLES:
            path, body = call(world)
            response = hub.client.request(method, path, json=body, headers=world.headers(role))
            status = response.status_code
            if (method, template) in PUBLIC:
                ok = status < 400
            elif (method, template) in NDXP_PROOF_ONLY:
                ok = status == 401 and response.json()["type"] == "caller.invalid_proof"
            elif role in ("no_key", "revoked_key"):
                ok = status == 401
            elif role in allowed:
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == 403
            if not ok:
                failures.append(f"{method} {path} as {role}: {status} {response.text[:160]}")
    assert failures == []
