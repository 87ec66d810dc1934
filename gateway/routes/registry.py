"""A Confluent-Schema-Registry-compatible API over the catalog's schema versions.

Enough for stock clients (confluent-kafka's ``SchemaRegistryClient``, ``AvroDeserializer``):
subjects are ``fdxp.<dataset id>-value``, a schema id is the hub's global schema version id.
Errors answer Confluent's own body ``{"error_code": 40401, "message": "..."}``::

    RegistryError
        401 / 40101   no key, unknown or revoked key
        403 / 40301   the key may not do this
        404 / 40401   subject not found        404 / 40402   version not found
        404 / 40403   schema not found
        409 / 409     incompatible schema
        422 / 42201   invalid schema           422 / 42202   invalid version
        422 / 42203   invalid compatibility level
        422 / 422     malformed request body

Keys travel as ``Authorization: Bearer <key>`` or as HTTP Basic auth whose password is the key
(``basic.auth.user.info = "<anything>:<key>"``); any valid key may read, the dataset's owner
unit (publisher) or an admin may register, only an admin may change settings.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from catalog import registry, repository
from catalog.errors import InvalidError, NotFoundError
from catalog.models import Dataset, SchemaVersion
from gateway.auth import Principal, authenticate_token
from gateway.deps import HubDep, SessionDep
from gateway.errors import REQUEST_ID_HEADER, Forbidden, Unauthorized, request_id
from gateway.evolution import register_schema
from gateway.policy import Action, authorize
from schemas.compatibility import (
    MODES,
    CompatibilityResult,
    InvalidSchema,
    normalize_mode,
    parse_schema,
)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
MAX_VERSION = 2**31 - 1

router = APIRouter(prefix="/registry", tags=["schema registry"])


class RegistryError(Exception):
    """An error answered in Confluent's body."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def install_registry_error_handler(app: FastAPI) -> None:
    """Answer ``RegistryError`` with Confluent's error body."""

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError) -> Response:
        headers = {REQUEST_ID_HEADER: request_id(request)}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="fdxp-registry", Bearer'
        return answer(
            {"error_code": exc.error_code, "message": exc.message}, exc.status, headers=headers
        )


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type=CONTENT_TYPE, headers=headers
    )


# --- errors Confluent clients know -------------------------------------------------------------
def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> RegistryError:
    return RegistryError(404, 40402, f"Version {version} not found.")


def schema_not_found(detail: str = "") -> RegistryError:
    return RegistryError(404, 40403, "Schema not found" + (f": {detail}" if detail else ""))


def invalid_schema(detail: str) -> RegistryError:
    return RegistryError(422, 42201, f"Invalid schema: {detail}")


def invalid_compatibility(level: object) -> RegistryError:
    return RegistryError(
        422,
        42203,
        f"Invalid compatibility level {level!r}. Valid values are "
        + ", ".join(m.lower() for m in MODES),
    )


# --- dependencies ------------------------------------------------------------------------------
def _api_key(authorization: str | None) -> str:
    if not authorization:
        raise RegistryError(401, 40101, "missing API key: send Bearer <key> or Basic auth")
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise RegistryError(401, 40101, "malformed Basic credentials") from None
        _, colon, password = decoded.partition(":")
        if colon and password:
            return password
    raise RegistryError(
        401,
        40101,
        "malformed Authorization header: Bearer <key>, or Basic with the key as password",
    )


def registry_principal(
    request: Request,
    hub: HubDep,
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The caller, as ``PrincipalDep`` resolves it, from a Bearer or a Basic header."""
    try:
        principal = authenticate_token(session, _api_key(authorization))
    except Unauthorized as exc:
        raise RegistryError(401, 40101, exc.message) from None
    request.state.principal = principal  # for the audit log
    hub.limiter.check(principal.key_id)
    return principal


RegistryPrincipal = Annotated[Principal, Depends(registry_principal)]


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object of a request (any JSON content type), or Confluent's 422."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise RegistryError(422, 422, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RegistryError(422, 422, "the body must be a JSON object")
    return body


JsonBody = Annotated[dict[str, Any], Depends(read_body)]


def _dataset(session: Session, subject: str) -> Dataset:
    dataset_id = registry.dataset_for(subject)
    dataset = repository.get_dataset(session, dataset_id=dataset_id) if dataset_id else None
    if dataset is None:
        raise subject_not_found(subject)
    return dataset


def _dataset_id(session: Session, subject: str) -> str:
    return _dataset(session, subject).id


def _version_number(version: str) -> int | None:
    """None for the latest; Confluent's 42202 for anything but 1..2^31-1, -1 and "latest"."""
    if version.strip().lower() == "latest" or version.strip() == "-1":
        return None
    try:
        number = int(version)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_VERSION:
        raise RegistryError(
            422,
            42202,
            f"The specified version '{version}' is not a valid version id. Allowed values are "
            f'between [1, {MAX_VERSION}] and the string "latest"',
        )
    return number


def _version(session: Session, subject: str, version: str) -> SchemaVersion:
    dataset_id = _dataset_id(session, subject)
    number = _version_number(version)
    found = registry.get_schema_version(session, dataset_id=dataset_id, version=number)
    if found is None:
        raise version_not_found(version)
    return found


def _schema_id(session: Session, schema_id: str) -> SchemaVersion:
    found = None
    if schema_id.isdigit():
        found = registry.get_schema_by_id(session, schema_id=int(schema_id))
    if found is None:
        raise RegistryError(404, 40403, f"Schema {schema_id} not found")
    return found


def _schema_text(body: dict[str, Any]) -> str | dict[str, Any]:
    schema_type = body.get("schemaType", "AVRO") or "AVRO"
    if str(schema_type).upper() != "AVRO":
        raise invalid_schema(f"schemaType {schema_type!r} is not supported; only AVRO is")
    if body.get("references"):
        raise invalid_schema("schema references are not supported")
    schema = body.get("schema")
    if not isinstance(schema, str | dict) or not schema:
        raise invalid_schema('the body needs "schema": the Avro schema as a JSON string')
    return schema


def _registered(version: SchemaVersion) -> dict[str, Any]:
    return {
        "subject": registry.subject_for(version.dataset_id),
        "version": version.version,
        "id": version.id,
        "schema": version.schema_json,
    }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


def _incompatibility_messages(check: CompatibilityResult) -> list[str]:
    return [p.describe() for p in check.problems] + [f"{{compatibility: '{check.mode}'}}"]


# --- routes ------------------------------------------------------------------------------------
@router.get("", summary="Registry root (Confluent answers an empty object)")
def root(_: RegistryPrincipal) -> Response:
    return answer({})


@router.get("/schemas/types", summary="Supported schema types")
def schema_types(_: RegistryPrincipal) -> Response:
    return answer(["AVRO"])


@router.get("/subjects", summary="Every subject (one per dataset)")
def list_subjects(session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer(registry.list_subjects(session))


@router.get("/subjects/{subject}/versions", summary="A subject's version numbers")
def list_versions(subject: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    dataset_id = _dataset_id(session, subject)
    return answer(
        [v.version for v in registry.list_schema_versions(session, dataset_id=dataset_id)]
    )


@router.get("/subjects/{subject}/versions/{version}", summary="One version (or 'latest')")
def get_version(subject: str, version: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer(_registered(_version(session, subject, version)))


@router.get("/subjects/{subject}/versions/{version}/schema", summary="One version's bare schema")
def get_version_schema(
    subject: str, version: str, session: SessionDep, _: RegistryPrincipal
) -> Response:
    return answer(orjson.loads(_version(session, subject, version).schema_json))


@router.post("/subjects/{subject}/versions", summary="Register a schema version")
def register_version(
    subject: str, body: JsonBody, session: SessionDep, principal: RegistryPrincipal
) -> Response:
    dataset = _dataset(session, subject)
    dataset_id = dataset.id
    _authorize(principal, Action.REGISTER_SCHEMA, unit=dataset.owner)
    schema = _schema_text(body)
    try:
        outcome = register_schema(session, dataset_id=dataset_id, schema=schema)
    except InvalidError as exc:
        raise invalid_schema(exc.errors[0]["message"] if exc.errors else exc.message) from None
    except NotFoundError:
        raise subject_not_found(subject) from None
    if not outcome.ok:
        details = ", ".join(
            f"{{errorType:'{p.kind}', description:'{p.message}', location:'{p.path}', "
            f"oldSchemaVersion:{p.against_version}}}"
            for p in outcome.problems
        )
        raise RegistryError(
            409,
            409,
            "Schema being registered is incompatible with an earlier schema for subject "
            f"\"{subject}\", details: [{details}, {{compatibility: '{outcome.mode}'}}]",
        )
    return answer({"id": outcome.schema_id})


@router.post("/subjects/{subject}", summary="Look a schema up in a subject")
def lookup(subject: str, body: JsonBody, session: SessionDep, _: RegistryPrincipal) -> Response:
    dataset_id = _dataset_id(session, subject)
    try:
        schema = parse_schema(_schema_text(body))
    except InvalidSchema as exc:
        raise invalid_schema(str(exc)) from None
    found = registry.find_schema_version(session, dataset_id=dataset_id, schema=schema)
    if found is None:
        raise schema_not_found()
    return answer(_registered(found))


@router.get("/schemas/ids/{schema_id}", summary="A schema by its global id")
def get_schema(schema_id: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer({"schema": _schema_id(session, schema_id).schema_json})


@router.get("/schemas/ids/{schema_id}/schema", summary="A bare schema by its global id")
def get_bare_schema(schema_id: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer(orjson.loads(_schema_id(session, schema_id).schema_json))


@router.get("/schemas/ids/{schema_id}/versions", summary="Subject-version pairs of a schema id")
def get_schema_versions(schema_id: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    found = _schema_id(session, schema_id)
    return answer([{"subject": registry.subject_for(found.dataset_id), "version": found.version}])


@router.get("/schemas/ids/{schema_id}/subjects", summary="Subjects of a schema id")
def get_schema_subjects(schema_id: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer([registry.subject_for(_schema_id(session, schema_id).dataset_id)])


def _test_compatibility(
    session: Session, subject: str, version: str | None, body: dict[str, Any], verbose: str | None
) -> Response:
    dataset_id = _dataset_id(session, subject)
    number = None if version is None else _version_number(version)
    if version is not None and (
        registry.get_schema_version(session, dataset_id=dataset_id, version=number) is None
    ):
        raise version_not_found(version)
    try:
        schema = parse_schema(_schema_text(body))
    except InvalidSchema as exc:
        raise invalid_schema(str(exc)) from None
    # "latest" checks what the mode selects, as registering would; a number only that version.
    check = registry.check_against(session, dataset_id=dataset_id, schema=schema, version=number)
    result: dict[str, Any] = {"is_compatible": check.compatible}
    if _flag(verbose):
        result["messages"] = [] if check.compatible else _incompatibility_messages(check)
    return answer(result)


@router.post(
    "/compatibility/subjects/{subject}/versions/{version}",
    summary="Test a schema against one version (or 'latest')",
)
def test_compatibility(
    subject: str,
    version: str,
    body: JsonBody,
    session: SessionDep,
    _: RegistryPrincipal,
    verbose: str | None = None,
) -> Response:
    return _test_compatibility(session, subject, version, body, verbose)


@router.post(
    "/compatibility/subjects/{subject}/versions",
    summary="Test a schema against the versions the subject's mode selects",
)
def test_compatibility_all(
    subject: str,
    body: JsonBody,
    session: SessionDep,
    _: RegistryPrincipal,
    verbose: str | None = None,
) -> Response:
    return _test_compatibility(session, subject, None, body, verbose)


def _requested_level(body: dict[str, Any]) -> str:
    level = body.get("compatibility", body.get("compatibilityLevel"))
    if not isinstance(level, str):
        raise invalid_compatibility(level)
    try:
        return normalize_mode(level)
    except ValueError:
        raise invalid_compatibility(level) from None


def _authorize(principal: Principal, action: Action, *, unit: str | None = None) -> None:
    """The hub's policy, answered in Confluent's error body."""
    try:
        authorize(principal, action, unit=unit)
    except Forbidden as exc:
        raise RegistryError(403, 40301, exc.message) from None


@router.get("/config", summary="The global compatibility level")
def get_global_config(session: SessionDep, _: RegistryPrincipal) -> Response:
    return answer({"compatibilityLevel": registry.get_global_compatibility(session)})


@router.put("/config", summary="Set the global compatibility level (admin)")
def put_global_config(
    body: JsonBody, session: SessionDep, principal: RegistryPrincipal
) -> Response:
    _authorize(principal, Action.MANAGE_CATALOG)
    level = registry.set_global_compatibility(session, compatibility=_requested_level(body))
    session.commit()
    return answer({"compatibility": level})


@router.get("/config/{subject}", summary="A subject's compatibility level")
def get_subject_config(subject: str, session: SessionDep, _: RegistryPrincipal) -> Response:
    dataset_id = _dataset_id(session, subject)
    level = registry.get_dataset_compatibility(session, dataset_id=dataset_id)
    return answer({"compatibilityLevel": level})


@router.put("/config/{subject}", summary="Set a subject's compatibility level (admin)")
def put_subject_config(
    subject: str, body: JsonBody, session: SessionDep, principal: RegistryPrincipal
) -> Response:
    _authorize(principal, Action.MANAGE_CATALOG)
    dataset_id = _dataset_id(session, subject)
    level = registry.set_dataset_compatibility(
        session, dataset_id=dataset_id, compatibility=_requested_level(body)
    )
    session.commit()
    return answer({"compatibility": level})
