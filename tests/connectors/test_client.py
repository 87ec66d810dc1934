from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import orjson
import pytest

from connectors.client import HubClient, PublishResult, RecordError
from connectors.errors import FatalError, RetriableError

OK_BODY = {
    "batch_id": "b-1",
    "accepted": 1,
    "rejected": 1,
    "errors": [
        {"index": 1, "key": "k2", "field": "vat_rate", "rule": "in_set", "message": "7 not allowed"}
    ],
}
RECORDS = [{"invoice_id": "k1"}, {"invoice_id": "k2"}]


class Hub:
    """Answers from a script of responses and records every request it got."""

    def __init__(self, *answers: httpx.Response | Callable[[], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer() if callable(answer) else answer


def error(status: int, type_: str, message: str, **extra: object) -> httpx.Response:
    headers = extra.pop("headers", None)
    body = {"type": type_, "message": message, "detail": "req-123", **extra}
    return httpx.Response(status, json=body, headers=headers)  # type: ignore[arg-type]


def client_for(hub: Hub, sleeps: list[float], **kwargs: object) -> HubClient:
    return HubClient(
        "http://hub.test/",
        "secret-key",
        transport=httpx.MockTransport(hub),
        sleep=sleeps.append,
        jitter=lambda: 0.0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_publish_sends_one_authenticated_idempotent_batch():
    hub, sleeps = Hub(httpx.Response(200, json=OK_BODY)), []
    result = client_for(hub, sleeps).publish("tax.einvoice", RECORDS, "key-1")
    assert result == PublishResult(
        batch_id="b-1",
        accepted=1,
        rejected=1,
        errors=(RecordError(1, "k2", "vat_rate", "in_set", "7 not allowed"),),
    )
    (request,) = hub.requests
    assert request.method == "POST"
    assert str(request.url) == "http://hub.test/v1/datasets/tax.einvoice/records"
    assert request.headers["authorization"] == "Bearer secret-key"
    assert request.headers["idempotency-key"] == "key-1"
    assert request.headers["content-type"] == "application/json"
    assert orjson.loads(request.content) == {"records": RECORDS}
    assert sleeps == []


def test_201_is_success_too():
    hub = Hub(httpx.Response(201, json={**OK_BODY, "errors": []}))
    assert client_for(hub, []).publish("d", RECORDS, "k").errors == ()


def test_retries_503_with_backoff_then_succeeds_with_the_same_key():
    hub, sleeps = (
        Hub(
            error(503, "unavailable", "db down"),
            error(503, "unavailable", "db down"),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    result = client_for(hub, sleeps, backoff_initial=0.5).publish("d", RECORDS, "key-7")
    assert result.batch_id == "b-1"
    assert len(hub.requests) == 3
    assert {r.headers["idempotency-key"] for r in hub.requests} == {"key-7"}
    assert sleeps == [0.25, 0.5]  # half of 0.5 * 2**n, jitter pinned to 0


def test_backoff_is_capped():
    hub, sleeps = Hub(error(500, "internal", "boom")), []
    with pytest.raises(RetriableError):
        client_for(hub, sleeps, max_attempts=6, backoff_initial=1, backoff_max=4).publish(
            "d", RECORDS, "k"
        )
    assert sleeps == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_retry_after_seconds_is_honoured_on_429():
    hub, sleeps = (
        Hub(
            error(429, "rate_limited", "slow down", headers={"Retry-After": "7"}),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    client_for(hub, sleeps).publish("d", RECORDS, "k")
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    hub, sleeps = (
        Hub(
            error(503, "unavailable", "maintenance", headers={"Retry-After": when}),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    client_for(hub, sleeps).publish("d", RECORDS, "k")
    assert 25 <= sleeps[0] <= 30


def test_retry_after_is_capped():
    hub, sleeps = (
        Hub(
            error(429, "rate_limited", "slow down", headers={"Retry-After": "86400"}),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    client_for(hub, sleeps, max_retry_after=60).publish("d", RECORDS, "k")
    assert sleeps == [60]


def test_409_in_flight_conflict_is_retried():
    hub, sleeps = (
        Hub(
            error(409, "idempotency_in_flight", "same key still processing"),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    assert client_for(hub, sleeps).publish("d", RECORDS, "k").accepted == 1
    assert len(sleeps) == 1


def test_409_for_a_key_reused_with_another_body_is_fatal():
    hub, sleeps = (
        Hub(error(409, "conflict", "Idempotency-Key 'k' was used with a different body")),
        [],
    )
    with pytest.raises(FatalError, match="change in place"):
        client_for(hub, sleeps).publish("d", RECORDS, "k")
    assert len(hub.requests) == 1
    assert sleeps == []


def test_409_with_retry_after_is_retried():
    hub, sleeps = (
        Hub(
            error(409, "conflict", "busy", headers={"Retry-After": "2"}),
            httpx.Response(200, json=OK_BODY),
        ),
        [],
    )
    client_for(hub, sleeps).publish("d", RECORDS, "k")
    assert sleeps == [2.0]


def test_422_carrying_the_batch_body_is_an_all_rejected_result():
    body = {
        "type": "validation_error",
        "message": "all 2 records were rejected; see errors",
        "batch_id": "b-9",
        "accepted": 0,
        "rejected": 2,
        "errors": [
            {"index": 0, "key": "k1", "field": "issued_date", "rule": "avro", "message": "x"},
            {"index": 1, "key": "k2", "field": "seller_tax_code", "rule": "mst", "message": "y"},
        ],
        "detail": "req-1",
        "replayed": True,
    }
    hub, sleeps = Hub(httpx.Response(422, json=body)), []
    result = client_for(hub, sleeps).publish("d", RECORDS, "k")
    assert (result.batch_id, result.accepted, result.rejected) == ("b-9", 0, 2)
    assert [e.field for e in result.errors] == ["issued_date", "seller_tax_code"]
    assert result.replayed is True
    assert sleeps == []


def test_network_errors_are_retried():
    calls = []

    def flaky() -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=OK_BODY)

    hub, sleeps = Hub(flaky), []
    assert client_for(hub, sleeps).publish("d", RECORDS, "k").batch_id == "b-1"
    assert len(calls) == 2
    assert len(sleeps) == 1


def test_gives_up_after_max_attempts_with_the_last_error():
    hub, sleeps = Hub(error(502, "bad_gateway", "upstream gone")), []
    with pytest.raises(RetriableError) as info:
        client_for(hub, sleeps, max_attempts=3).publish("d", RECORDS, "k")
    assert len(hub.requests) == 3
    assert len(sleeps) == 2
    assert info.value.status_code == 502
    assert "bad_gateway: upstream gone" in str(info.value)


@pytest.mark.parametrize(
    ("status", "type_", "hint"),
    [
        (401, "unauthorized", "API key"),
        (403, "forbidden", "API key"),
        (404, "dataset_not_found", "registered"),
        (400, "bad_request", ""),
    ],
)
def test_fatal_statuses_are_not_retried(status, type_, hint):
    hub, sleeps = Hub(error(status, type_, "nope")), []
    with pytest.raises(FatalError) as info:
        client_for(hub, sleeps).publish("tax.einvoice", RECORDS, "k")
    assert len(hub.requests) == 1
    assert sleeps == []
    assert f"{status} {type_}: nope" in str(info.value)
    assert hint in str(info.value)
    assert info.value.status_code == status
    assert info.value.detail == "req-123"


def test_error_body_fields_are_kept():
    errors = [{"loc": ["body", "records"], "msg": "field required"}]
    hub = Hub(error(422, "validation_error", "bad body", errors=errors))
    with pytest.raises(FatalError) as info:
        client_for(hub, []).publish("d", RECORDS, "k")
    assert info.value.error_type == "validation_error"
    assert info.value.errors == errors


def test_non_json_error_body_still_gives_a_message():
    hub = Hub(httpx.Response(401, text="<html>denied</html>"))
    with pytest.raises(FatalError, match="401: Unauthorized"):
        client_for(hub, []).publish("d", RECORDS, "k")


def test_malformed_success_body_is_fatal():
    hub = Hub(httpx.Response(200, json={"ok": True}))
    with pytest.raises(FatalError, match="unexpected answer"):
        client_for(hub, []).publish("d", RECORDS, "k")
    assert len(hub.requests) == 1


def test_health():
    assert client_for(Hub(httpx.Response(200, json={"status": "ok"})), []).health() is True
    assert client_for(Hub(httpx.Response(503)), []).health() is False

    def down() -> httpx.Response:
        raise httpx.ConnectError("refused")

    hub = Hub(down)
    with client_for(hub, []) as client:
        assert client.health() is False
    assert hub.requests[0].url.path == "/healthz"


def test_each_batch_starts_a_trace_that_survives_retries() -> None:
    import re

    seen: list[str] = []
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(
                200, json={"batch_id": "b1", "accepted": 1, "rejected": 0, "errors": []}
            ),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["traceparent"])
        return next(answers)

    client = HubClient(
        "http://hub", "key", transport=httpx.MockTransport(handler), sleep=lambda _: None
    )
    client.publish("tax.einvoice", [{"invoice_id": "x"}], "k1")
    assert len(seen) == 2 and seen[0] == seen[1]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", seen[0])
