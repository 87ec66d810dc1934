import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from simulators.customs import API_PATH, BAD_KINDS, CustomsSystem, Faults, create_app

TOKEN = "vnaccs-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    """Whole seconds at a time, so that several declarations share one `ngayCapNhat`."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)


def api(system: CustomsSystem, faults: Faults | None = None) -> TestClient:
    return TestClient(create_app(system, token=TOKEN, faults=faults))


def list_all(client: TestClient, since: str | None = None, limit: int = 7) -> list[dict]:
    items, token = [], None
    while True:
        params: dict = {"limit": limit}
        if since:
            params["updated_since"] = since
        if token:
            params["page_token"] = token
        page = client.get(API_PATH, params=params, headers=AUTH).json()
        items += page["items"]
        token = page["next_page_token"]
        if not token:
            return items


def test_register_records_the_truth_with_defects():
    system = CustomsSystem()
    keys = system.register(300, bad_share=0.1, rng=random.Random(1))
    versions = system.versions()
    assert len(keys) == len(set(keys)) == 300 == len(versions)
    defects = [v.defect for v in versions if v.defect]
    assert len(defects) == 30 and set(defects) == set(BAD_KINDS)
    assert {v.status for v in versions} == {"registered"}


def test_the_api_needs_the_token():
    client = api(CustomsSystem())
    assert client.get(API_PATH).status_code == 401
    assert client.get(API_PATH, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(API_PATH, headers=AUTH).status_code == 200


def test_page_tokens_list_every_declaration_once_in_order_despite_shared_times():
    clock = Clock()
    system = CustomsSystem(clock=clock)
    for _ in range(5):
        system.register(9, rng=random.Random(2))
        clock.tick()
    items = list_all(api(system))
    order = [(i["ngayCapNhat"], i["soToKhai"]) for i in items]
    assert len(items) == 45 and order == sorted(order) and len(set(order)) == 45
    assert len({i["ngayCapNhat"] for i in items}) == 5  # nine share each time


def test_updated_since_is_inclusive_and_changes_come_back_with_the_new_state():
    clock = Clock()
    system = CustomsSystem(clock=clock)
    system.register(20, rng=random.Random(3))
    client = api(system)
    first = list_all(client)
    since = first[-1]["ngayCapNhat"]
    assert len(list_all(client, since)) == 20  # all share `since`: inclusive
    clock.tick()
    changed = system.advance(0.5, rng=random.Random(4))
    later = list_all(client, since)
    assert changed == 10
    moved = [i for i in later if i["ngayCapNhat"] > since]
    assert len(moved) == 10
    assert {i["trangThai"] for i in moved} <= {"TQ", "HUY"}
    assert all(i["phienBan"] == 2 for i in moved)
    assert len(system.versions()) == 30


def test_a_token_of_another_listing_is_refused():
    system = CustomsSystem()
    system.register(10, rng=random.Random(5))
    client = api(system)
    token = client.get(API_PATH, params={"limit": 3}, headers=AUTH).json()["next_page_token"]
    answer = client.get(
        API_PATH, params={"limit": 3, "page_token": token, "updated_since": "2099"}, headers=AUTH
    )
    assert answer.status_code == 400
    assert client.get(API_PATH, params={"page_token": "%%%"}, headers=AUTH).status_code == 400


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(rate_limit=1.0, retry_after=7), 429),
        (Faults(server_error=1.0), {500, 502, 503}),
        (Faults(down=True), 503),
    ],
)
def test_injected_faults_answer_errors(faults, status):
    system = CustomsSystem()
    system.register(3, rng=random.Random(6))
    answer = api(system, faults).get(API_PATH, headers=AUTH)
    assert answer.status_code in (status if isinstance(status, set) else {status})
    if answer.status_code == 429:
        assert answer.headers["Retry-After"] == "7"
    assert sum(faults.injected.values()) == 1


def test_slow_and_hanging_pages_answer_late_but_right():
    system = CustomsSystem()
    system.register(3, rng=random.Random(7))
    faults = Faults(hang=1.0, hang_seconds=0.3)
    started = time.monotonic()
    answer = api(system, faults).get(API_PATH, headers=AUTH)
    assert time.monotonic() - started >= 0.3
    assert len(answer.json()["items"]) == 3
    assert faults.injected["hang"] == 1


def test_fault_shares_are_roughly_kept_and_reproducible():
    drawn = []
    for _ in range(2):
        faults = Faults(rate_limit=0.1, server_error=0.1, slow=0.1, seed=9)
        drawn.append([faults.draw() for _ in range(1000)])
    assert drawn[0] == drawn[1]
    assert 60 < drawn[0].count("rate_limit") < 140
    assert 550 < drawn[0].count(None) < 850
