"""The treasury connector: TABMIS CSV exports dropped into a folder -> `treasury.budget_txn`.

The unit of work is a file. For each complete file in the drop folder (temporary names, i.e.
dot-files and `*.tmp`/`*.part`, are never read) the connector:

1. hashes its bytes (SHA-256); a hash already handled is a duplicate export: the file goes to
   `done/` with a reason file and nothing is published again;
2. checks it whole before sending anything (UTF-8, the expected header, the `#TỔNG CỘNG;<n>`
   trailer whose count matches, 13 fields a row); a file failing that goes to `failed/` with
   `<name>.reason.txt` and the connector carries on with the next file;
3. maps the rows and publishes them in batches under idempotency keys made of the file's hash
   and the batch number, so a batch re-sent after a crash is answered from the hub's first
   answer;
4. records the file as done in its state (beside the checkpoint: the hash set), then moves it.

State (JSON, at the checkpoint path, replaced atomically) keeps per hash the file's name, its
batch size and how many batches the hub acknowledged: a restart resumes inside a file.
Business rules (codes, amounts, dates) are the hub's: odd values pass through for quarantine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from connectors.base import SyncSummary
from connectors.checkpoint import Checkpoint, atomic_write
from connectors.client import HubClient, PublishResult
from connectors.errors import CheckpointError, FatalError, RetriableError
from connectors.health import Heartbeat

__all__ = [
    "HEADER",
    "MalformedFile",
    "TreasuryFolderConnector",
    "map_budget_txn",
    "parse_export",
]

log = logging.getLogger(__name__)

HEADER: tuple[str, ...] = (
    "Số giao dịch", "Mã KBNN", "Ngày hạch toán", "Ngày hiệu lực", "Cấp ngân sách", "Mã chương",
    "Mã NDKT", "Mã ĐVQHNS", "Mã địa bàn", "Thu/Chi", "Số tiền", "MST người nộp", "Số tham chiếu",
)  # fmt: skip
TRAILER = "#TỔNG CỘNG"
DIRECTIONS = {"thu": "revenue", "chi": "expenditure"}
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
STATE_VERSION = 1


class MalformedFile(ValueError):
    """The file as a whole cannot be trusted; the message is the reason written beside it."""


def parse_export(data: bytes) -> list[list[str]]:
    """The data rows of one export file, or MalformedFile saying what is wrong with it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            f"wrong encoding: not UTF-8 ({exc.reason} at byte {exc.start}); "
            "TABMIS exports are UTF-8 with a BOM"
        ) from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise MalformedFile("empty file")
    header = tuple(cell.strip() for cell in lines[0].split(";"))
    if header != HEADER:
        missing = [c for c in HEADER if c not in header]
        extra = [c for c in header if c not in HEADER]
        raise MalformedFile(
            f"wrong header: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}"
            f" (expected {';'.join(HEADER)})"
        )
    last = lines[-1].split(";")
    if last[0].strip() != TRAILER:
        raise MalformedFile(
            f"truncated: no '{TRAILER};<rows>' trailer line (file ends with {lines[-1][:60]!r})"
        )
    rows = [line.split(";") for line in lines[1:-1]]
    try:
        declared = int(last[1])
    except (IndexError, ValueError):
        raise MalformedFile(f"bad trailer {lines[-1]!r}") from None
    if declared != len(rows):
        raise MalformedFile(
            f"truncated: the trailer says {declared} rows, the file has {len(rows)}"
        )
    for number, row in enumerate(rows, start=2):
        if len(row) != len(HEADER):
            raise MalformedFile(f"line {number} has {len(row)} fields, expected {len(HEADER)}")
    return rows


def map_budget_txn(row: list[str]) -> dict[str, Any]:
    """One native CSV row -> one canonical `treasury.budget_txn` record (JSON-ready)."""
    cells = [cell.strip() for cell in row]
    (txn_id, treasury, posting, value, level, chapter, item, unit, area, direction, amount,
     payer, ref) = cells  # fmt: skip
    return {
        "txn_id": txn_id,
        "treasury_code": treasury,
        "posting_date": _date(posting),
        "value_date": _date(value),
        "budget_level": int(level) if level.isdigit() else level,
        "chapter": chapter,
        "economic_item": item,
        "budget_unit": unit,
        "area": area,
        "direction": DIRECTIONS.get(direction.lower(), direction),
        "amount": _amount(amount),
        "payer_tax_code": payer or None,
        "source_ref": ref or None,
    }


def _date(text: str) -> str:
    """'dd/mm/yyyy' -> 'YYYY-MM-DD'; anything else goes through raw for the hub to reject."""
    try:
        return datetime.strptime(text, "%d/%m/%Y").date().isoformat()
    except ValueError:
        return text


def _amount(text: str) -> str:
    """'1.250.000,50' -> '1250000.50' (Vietnamese grouping); unparseable text goes raw."""
    plain = text.replace(".", "").replace(",", ".").replace(" ", "")
    try:
        number = Decimal(plain)
    except InvalidOperation:
        return text
    return str(number) if number.is_finite() else text


@dataclass
class _FileState:
    name: str
    status: str  # in_progress | done | failed
    batch_size: int
    acked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "batch_size": self.batch_size,
                "acked": self.acked}  # fmt: skip


class _FolderState:
    """The hash set and per-file progress, at the checkpoint path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, _FileState] = {}
        self.records = 0
        self.last_file: str | None = None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            data = orjson.loads(raw)
            if data.get("version") != STATE_VERSION or data.get("kind") != "treasury-folder":
                raise ValueError("not a treasury folder state")
            self.files = {h: _FileState(**f) for h, f in data["files"].items()}
            self.records = int(data.get("records", 0))
            self.last_file = data.get("last_file")
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from exc

    def save(self) -> None:
        document = {
            "version": STATE_VERSION,
            "kind": "treasury-folder",
            "records": self.records,
            "last_file": self.last_file,
            "files": {h: f.to_dict() for h, f in self.files.items()},
        }
        atomic_write(self.path, orjson.dumps(document, option=orjson.OPT_INDENT_2))


class TreasuryFolderConnector:
    """Watches one drop folder; `sync` has the signature of `Stream.sync`."""

    name = "treasury"
    dataset_id = "treasury.budget_txn"
    primary_key = "txn_id"

    def __init__(self, drop_dir: Path | str) -> None:
        self.drop_dir = Path(drop_dir)
        self.done_dir = self.drop_dir / "done"
        self.failed_dir = self.drop_dir / "failed"

    def waiting_files(self) -> list[Path]:
        """Complete export files in the folder, oldest name first."""
        if not self.drop_dir.is_dir():
            raise FatalError(f"treasury drop folder not found: {self.drop_dir}")
        return sorted(
            p
            for p in self.drop_dir.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and not p.name.lower().endswith(TEMP_SUFFIXES)
            and p.suffix.lower() == ".csv"
        )

    def sync(
        self,
        client: HubClient,
        checkpoint: Checkpoint,
        *,
        batch_size: int = 500,
        max_batches: int | None = None,
        on_progress: Callable[[SyncSummary], None] | None = None,
        follow: bool = False,
        poll_interval: float = 1.0,
        stop_event: threading.Event | None = None,
        linger: float = 0.0,
    ) -> SyncSummary:
        """Handle every waiting file; follow: keep watching until `stop_event` is set.

        `linger` does not apply: a file is complete when it appears, its rows go at once.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        stop = stop_event if stop_event is not None else threading.Event()
        state = _FolderState(checkpoint.path)
        heartbeat = Heartbeat(client, self.name, self.dataset_id)
        summary = SyncSummary(cursor=state.last_file)

        def beat(error: str | None = None) -> None:
            try:
                lag: int | None = len(self.waiting_files())
            except FatalError:
                lag = None
            heartbeat.beat(
                cursor=state.last_file, lag=lag, last_error=error, records_sent=state.records
            )

        while not stop.is_set():
            files = self.waiting_files()
            if not files:
                if not follow:
                    break
                beat()
                stop.wait(poll_interval)
                continue
            try:
                for path in files:
                    if stop.is_set() or _limit(summary, max_batches):
                        break
                    self._handle(path, client, state, summary, batch_size, stop, max_batches,
                                 on_progress, beat)  # fmt: skip
            except RetriableError as exc:
                if not follow:
                    raise
                log.error("%s: hub unavailable (%s); retrying in %.1fs", self.name, exc,
                          poll_interval)  # fmt: skip
                beat(f"hub unavailable: {exc}")
                stop.wait(poll_interval)
                continue
            if _limit(summary, max_batches):
                break
        beat(None)  # where the run ended (e.g. duplicates filed after the last batch)
        return summary

    def _handle(
        self,
        path: Path,
        client: HubClient,
        state: _FolderState,
        summary: SyncSummary,
        batch_size: int,
        stop: threading.Event,
        max_batches: int | None,
        on_progress: Callable[[SyncSummary], None] | None,
        beat: Callable[[str | None], None],
    ) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return  # moved away meanwhile (by an operator, or another run)
        digest = hashlib.sha256(data).hexdigest()
        known = state.files.get(digest)
        if known is not None and known.status != "in_progress":
            if known.name == path.name and not (self._target(known.status) / path.name).exists():
                # Handled, but the run ended before the move.
                self._move(path, known.status, None)
            else:
                self._move(
                    path,
                    "done",
                    f"duplicate of {known.name} (sha256 {digest}); not published again",
                )
                _count(summary, "duplicate")
            return
        try:
            records = [map_budget_txn(row) for row in parse_export(data)]
        except MalformedFile as exc:
            log.warning("%s: %s is malformed: %s", self.name, path.name, exc)
            state.files[digest] = _FileState(path.name, "failed", batch_size)
            state.save()
            self._move(path, "failed", str(exc))
            _count(summary, "failed")
            beat(f"{path.name}: {exc}")
            return
        if known is None:
            known = state.files[digest] = _FileState(path.name, "in_progress", batch_size)
            state.save()
        size = known.batch_size  # the split of the first attempt, so keys stay the same
        batches = [records[i : i + size] for i in range(0, len(records), size)]
        for index in range(known.acked, len(batches)):
            if stop.is_set() or _limit(summary, max_batches):
                return
            batch = batches[index]
            key = f"treasury-{digest[:40]}-{size}-{index}"
            result: PublishResult = client.publish(self.dataset_id, batch, key)
            known.acked = index + 1
            state.records += len(batch)
            state.save()
            summary.add(result, sent=len(batch))
            summary.cursor = f"{path.name}#{known.acked}"
            beat(None)
            if on_progress is not None:
                on_progress(summary)
        known.status = "done"
        state.last_file = path.name
        state.save()
        self._move(path, "done", None)
        summary.cursor = path.name
        _count(summary, "done")

    def _target(self, status: str) -> Path:
        return self.failed_dir if status == "failed" else self.done_dir

    def _move(self, path: Path, status: str, reason: str | None) -> None:
        target_dir = self._target(status)
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        if target.exists():
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
            target = target_dir / f"{path.stem}.{stamp}{path.suffix}"
        if reason is not None:
            atomic_write(target.with_name(target.name + ".reason.txt"), (reason + "\n").encode())
        os.replace(path, target)


def _limit(summary: SyncSummary, max_batches: int | None) -> bool:
    return max_batches is not None and summary.batches >= max_batches


def _count(summary: SyncSummary, outcome: str) -> None:
    summary.files[outcome] = summary.files.get(outcome, 0) + 1
