"""The simulated VNACCS declaration store: declarations that change state over time.

Native shape (what the VNACCS API returns; Vietnamese field names):
  soToKhai            declaration number, 12 digits (a string)
  maLoaiHinh          type code, e.g. A11, A12, E21, B11
  maHQ                customs office, 4 characters, e.g. 01B1
  ngayDangKy          registration time, local (UTC+7) text 'dd/mm/yyyy HH:MM:SS'
  maSoThue            the declarant's MST
  maHS                HS code, 8 digits
  nuocXuatXu          origin, ISO 3166 alpha-2
  triGiaTinhThue      customs value in VND (a JSON number)
  thueNK, thueGTGT    import duty and import VAT in VND (JSON numbers, sometimes with .0)
  maPhanLuong         channel: '1' green, '2' yellow, '3' red
  trangThai           'DK' registered, 'TQ' cleared (thông quan), 'HUY' cancelled
  ngayCapNhat         when this state was recorded, local text 'YYYY-MM-DD HH:MM:SS.ffffff'
                      (non-decreasing; several declarations may share one value)
  phienBan            revision of the declaration, 1 for its first state

The store keeps every state ever held (`versions`): the simulator's ground truth, with the
defect of every bad declaration (a defect stays with all of its states).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from simulators.tax.mst import random_mst

__all__ = [
    "BAD_KINDS",
    "CHANNEL_CODES",
    "STATUS_CODES",
    "CustomsSystem",
    "Version",
    "trader_msts",
]

VN = timezone(timedelta(hours=7))
BAD_KINDS: tuple[str, ...] = (
    "bad_trader_mst",
    "bad_hs_code",
    "bad_origin",
    "zero_value",
    "negative_duty",
    "unknown_channel",
    "bad_declaration_no",
    "bad_office",
    "bad_date",
)
CHANNEL_CODES = {"1": "green", "2": "yellow", "3": "red"}
STATUS_CODES = {"DK": "registered", "TQ": "cleared", "HUY": "cancelled"}
TYPES = ("A11", "A11", "A12", "E21", "B11", "E31")
OFFICES = ("01B1", "02CI", "03CE", "01AB", "47NB", "02IK")
ORIGINS = ("CN", "KR", "JP", "US", "DE", "TH", "VN", "SG")
HS = ("85171300", "84713020", "87032363", "30049099", "61091010", "72085100")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# The trader population: part of the simulated world, the same in every run.
TRADERS = 30
TRADER_SEED_BASE = 7000


@dataclass(frozen=True, slots=True)
class Version:
    """One state of one declaration, as the API shows it while it is current."""

    native: dict[str, Any]
    defect: str | None

    @property
    def key(self) -> str:
        return str(self.native["soToKhai"])

    @property
    def status(self) -> str:
        return STATUS_CODES.get(self.native["trangThai"], self.native["trangThai"])

    @property
    def updated(self) -> str:
        return str(self.native["ngayCapNhat"])


@dataclass
class _Declaration:
    current: Version
    history: list[Version] = field(default_factory=list)


def trader_msts(count: int = TRADERS) -> list[str]:
    """The tax codes of the traders a `CustomsSystem(traders=count)` declares for."""
    return [random_mst(random.Random(TRADER_SEED_BASE + i)) for i in range(count)]


class CustomsSystem:
    """Thread-safe in-memory VNACCS; `clock` returns aware datetimes (tests may pin it)."""

    def __init__(
        self, *, clock: Callable[[], datetime] | None = None, traders: int = TRADERS
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._declarations: dict[str, _Declaration] = {}
        self._last_time = ""
        self._next = 0
        self._traders = trader_msts(traders)

    # -- changing the world ---------------------------------------------------------------

    def register(self, count: int, *, bad_share: float = 0.0, rng: random.Random) -> list[str]:
        """Register `count` declarations, about `bad_share` of them with one defect each."""
        if count < 0 or not 0.0 <= bad_share <= 1.0:
            raise ValueError("count >= 0 and bad_share within [0, 1]")
        n_bad = min(count, int(count * bad_share + rng.random()))
        first = rng.randrange(len(BAD_KINDS))
        defects = {
            at: BAD_KINDS[(first + i) % len(BAD_KINDS)]
            for i, at in enumerate(sorted(rng.sample(range(count), n_bad)))
        }
        keys = []
        with self._lock:
            for i in range(count):
                self._next += 1
                native = self._draft(rng, self._next)
                defect = defects.get(i)
                if defect is not None:
                    native = _apply_defect(native, defect, rng)
                version = Version(native, defect)
                self._declarations[version.key] = _Declaration(version, [version])
                keys.append(version.key)
        return keys

    def advance(self, share: float, *, rng: random.Random, cancel_share: float = 0.2) -> int:
        """Move about `share` of the registered declarations on: cleared, or cancelled."""
        with self._lock:
            open_ = [d for d in self._declarations.values() if d.current.status == "registered"]
            chosen = rng.sample(open_, min(len(open_), int(len(open_) * share + rng.random())))
            for declaration in chosen:
                code = "HUY" if rng.random() < cancel_share else "TQ"
                old = declaration.current
                native = {
                    **old.native,
                    "trangThai": code,
                    "ngayCapNhat": self._now(),
                    "phienBan": int(old.native["phienBan"]) + 1,
                }
                declaration.current = replace(old, native=native)
                declaration.history.append(declaration.current)
        return len(chosen)

    # -- reading --------------------------------------------------------------------------

    def changed_since(
        self, updated_since: str | None, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Current states with ngayCapNhat >= updated_since and (ngayCapNhat, soToKhai) > after,
        in that order, at most `limit`; and how many match in all."""
        with self._lock:
            current = [d.current for d in self._declarations.values()]
        matching = sorted(
            (v for v in current if updated_since is None or v.updated >= updated_since),
            key=lambda v: (v.updated, v.key),
        )
        if after is not None:
            matching = [v for v in matching if (v.updated, v.key) > after]
        return [dict(v.native) for v in matching[:limit]], len(matching)

    def versions(self) -> list[Version]:
        """Ground truth: every state every declaration has had, oldest first per declaration."""
        with self._lock:
            return [v for d in self._declarations.values() for v in d.history]

    def count(self) -> int:
        with self._lock:
            return len(self._declarations)

    # -- helpers --------------------------------------------------------------------------

    def _now(self) -> str:
        text = self._clock().astimezone(VN).strftime(TIME_FORMAT)
        self._last_time = max(self._last_time, text)  # never goes back
        return self._last_time

    def _draft(self, rng: random.Random, n: int) -> dict[str, Any]:
        now = self._now()
        value = rng.randint(5, 50_000) * 100_000
        duty_rate = rng.choice((0, 0, 3, 5, 10, 20))
        duty = value * duty_rate // 100
        vat = (value + duty) * rng.choice((0, 5, 8, 10)) // 100
        return {
            "soToKhai": f"{100_000_000_000 + n * 7919 % 900_000_000_000:012d}",
            "maLoaiHinh": rng.choice(TYPES),
            "maHQ": rng.choice(OFFICES),
            "ngayDangKy": datetime.strptime(now, TIME_FORMAT).strftime("%d/%m/%Y %H:%M:%S"),
            "maSoThue": rng.choice(self._traders),
            "maHS": rng.choice(HS),
            "nuocXuatXu": rng.choice(ORIGINS),
            "triGiaTinhThue": value,
            "thueNK": float(duty) if rng.random() < 0.3 else duty,
            "thueGTGT": vat,
            "maPhanLuong": rng.choices(("1", "2", "3"), (70, 20, 10))[0],
            "trangThai": "DK",
            "ngayCapNhat": now,
            "phienBan": 1,
        }


def _apply_defect(native: dict[str, Any], kind: str, rng: random.Random) -> dict[str, Any]:
    bad = dict(native)
    if kind == "bad_trader_mst":
        mst = bad["maSoThue"]
        bad["maSoThue"] = f"{mst[:9]}{(int(mst[9]) + rng.randint(1, 9)) % 10}{mst[10:]}"
    elif kind == "bad_hs_code":
        bad["maHS"] = bad["maHS"][:7]
    elif kind == "bad_origin":
        bad["nuocXuatXu"] = rng.choice(("CHN", "KOR", "xx"))
    elif kind == "zero_value":
        bad["triGiaTinhThue"] = 0
    elif kind == "negative_duty":
        bad["thueNK"] = -rng.randint(1, 1000) * 1000
    elif kind == "unknown_channel":
        bad["maPhanLuong"] = rng.choice(("0", "4", "X"))
    elif kind == "bad_declaration_no":
        bad["soToKhai"] = bad["soToKhai"][1:]  # 11 digits: still unique in the store
    elif kind == "bad_office":
        bad["maHQ"] = bad["maHQ"][:3]
    elif kind == "bad_date":
        bad["ngayDangKy"] = rng.choice(("31/02/2026 10:00:00", "00/00/0000 00:00:00"))
    else:
        raise ValueError(f"unknown defect kind {kind!r}")
    return bad
