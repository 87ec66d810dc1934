import pytest

from connectors.state import CursorState, PendingPage


def test_empty_state_has_no_cursor():
    state = CursorState()
    assert state.cursor is None
    assert state.pending is None
    assert (state.batches, state.records) == (0, 0)


def test_begin_then_advance_moves_the_cursor_and_clears_pending():
    state = CursorState().begin_page(10, 10)
    assert state.cursor is None
    assert state.pending == PendingPage(until=10, count=10)
    state = state.advance(10, 10)
    assert state == CursorState(cursor=10, pending=None, batches=1, records=10)
    state = state.advance(25, 15)
    assert (state.cursor, state.batches, state.records) == (25, 2, 25)


def test_the_cursor_never_moves_back():
    state = CursorState(cursor=10)
    with pytest.raises(ValueError):
        state.advance(10, 1)
    with pytest.raises(ValueError):
        state.begin_page(9, 1)
    with pytest.raises(TypeError):
        state.advance("11", 1)
    with pytest.raises(ValueError):
        state.begin_page(11, 0)


def test_string_cursors_compare_as_strings():
    state = CursorState(cursor="2026-01-01T00:00:00").advance("2026-01-02T00:00:00", 3)
    assert state.cursor == "2026-01-02T00:00:00"


def test_origin_is_set_once_and_kept_by_every_step():
    state = CursorState().with_origin("lineage-1")
    state = state.begin_page(5, 5).advance(5, 5).begin_page(9, 4).drop_pending()
    assert state.origin == "lineage-1"
    with pytest.raises(ValueError):
        state.with_origin("lineage-2")


def test_drop_pending_keeps_the_cursor():
    state = CursorState(cursor=5).begin_page(9, 4).drop_pending()
    assert state == CursorState(cursor=5)


@pytest.mark.parametrize(
    "state",
    [
        CursorState(),
        CursorState(cursor=42, batches=3, records=1500),
        CursorState(cursor="abc", pending=PendingPage(until="abd", count=2)),
        CursorState(cursor=7).begin_page(12, 5),
        CursorState(cursor=7, origin="abc123"),
    ],
)
def test_round_trip_through_dict(state):
    assert CursorState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 2, "cursor": 1},
        {"version": 1, "cursor": 1.5},
        {"version": 1, "cursor": True},
        {"version": 1, "cursor": 1, "pending": {"until": 3, "count": 0}},
        {"version": 1, "cursor": 1, "batches": "x"},
        {"version": 1, "cursor": 1, "origin": 5},
        [],
    ],
)
def test_from_dict_refuses_what_it_did_not_write(data):
    with pytest.raises(ValueError):
        CursorState.from_dict(data)
