"""The national enterprise registry (DKKD), NDXP's own provider: tax code -> name and status.

The registry is a pure function of the tax code, so it knows every MST the other simulators
draw without enumerating them (tax sellers and buyers, treasury payers, customs traders: all are
valid MSTs from `random_mst`, whose first two digits, the province code, are 01..96):
- a 10-digit MST with a valid check digit and a province code 01..96 is registered; its name and
  status are drawn from a hash of (seed, code): about 5% `closed`, 3% `suspended`, the rest
  `active`;
- a branch `0314409058-002` is registered when its parent is, under the parent's status;
- anything else is unknown: a bad check digit, branch `-000`, or a province code 97..99 (no such
  province: the simulators never draw one, so tests use them for "well-formed but unknown").
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from simulators.customs.system import trader_msts
from simulators.tax.generator import seller_msts
from simulators.tax.mst import is_valid_mst, mst_check_digit, random_mst

__all__ = [
    "CLOSED_PER_MILLE",
    "DEFAULT_SEED",
    "STATUSES",
    "SUSPENDED_PER_MILLE",
    "Enterprise",
    "EnterpriseRegistry",
    "simulated_msts",
    "unknown_mst",
]

DEFAULT_SEED = 2026
STATUSES = ("active", "closed", "suspended")
CLOSED_PER_MILLE = 50
SUSPENDED_PER_MILLE = 30
LAST_PROVINCE = 96

FORMS = (
    ("Công ty TNHH", 45),
    ("Công ty Cổ phần", 30),
    ("Công ty TNHH MTV", 10),
    ("Doanh nghiệp tư nhân", 8),
    ("Hợp tác xã", 4),
    ("Tổng công ty", 3),
)
TRADES = (
    "Thương mại", "Dịch vụ", "Thương mại và Dịch vụ", "Xây dựng", "Sản xuất", "Xuất nhập khẩu",
    "Công nghệ", "Vận tải", "Đầu tư", "Thực phẩm", "Dược phẩm", "Điện tử", "Cơ khí", "Nông sản",
    "Thủy sản", "Dệt may", "Logistics", "Phần mềm", "Du lịch", "Năng lượng",
)  # fmt: skip
BRANDS = (
    "Minh Phát", "Hoàng Long", "An Khang", "Thành Công", "Việt Tiến", "Phú Thịnh", "Hưng Thịnh",
    "Sao Mai", "Bình Minh", "Đại Dương", "Hòa Bình", "Tân Phú", "Trường Sơn", "Kim Ngân",
    "Phương Đông", "Nam Việt", "Bắc Hà", "Thái Sơn", "Quang Minh", "Hải Âu", "Tiến Đạt",
    "Lộc Phát", "Gia Huy", "Đông Á", "Sông Hồng", "Cửu Long", "Hồng Hà", "Thiên Phúc",
    "Vạn Xuân", "Ánh Dương", "Hoa Sen", "Thuận Thành", "Đức Anh", "Mai Linh", "Tân Cảng",
)  # fmt: skip
PLACES = (
    "Hà Nội", "Sài Gòn", "Hải Phòng", "Đà Nẵng", "Cần Thơ", "Miền Bắc", "Miền Trung",
    "Miền Nam", "Việt Nam", "Quốc tế",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Enterprise:
    tax_code: str
    name: str
    status: str

    def to_dict(self) -> dict[str, str]:
        return {"tax_code": self.tax_code, "name": self.name, "status": self.status}


class EnterpriseRegistry:
    """The registry for one `seed`: the same seed gives the same names and statuses."""

    def __init__(self, *, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed

    def lookup(self, tax_code: str) -> Enterprise | None:
        """The registered enterprise with this tax code, or None."""
        if not isinstance(tax_code, str) or not is_valid_mst(tax_code):
            return None
        parent, _, branch = tax_code.partition("-")
        if int(parent[:2]) > LAST_PROVINCE or int(parent[:2]) == 0:
            return None
        draw = self._draw(parent)
        rng = random.Random(draw)
        name = _name(rng)
        if branch:
            name = f"Chi nhánh {name} số {int(branch)}"
        return Enterprise(tax_code=tax_code, name=name, status=_status(draw))

    def lookup_many(self, tax_codes: Iterable[str]) -> dict[str, Enterprise | None]:
        return {code: self.lookup(code) for code in tax_codes}

    def sample(self, status: str, count: int, *, seed: int = 0) -> list[str]:
        """`count` registered tax codes with this `status`, drawn deterministically from `seed`
        (for tests and demos that need, say, a closed enterprise)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        rng = random.Random(seed)
        found: list[str] = []
        while len(found) < count:
            code = random_mst(rng)
            enterprise = self.lookup(code)
            if enterprise is not None and enterprise.status == status and code not in found:
                found.append(code)
        return found

    def _draw(self, parent: str) -> int:
        digest = hashlib.sha256(f"ndxp-dkkd/{self.seed}/{parent}".encode()).digest()
        return int.from_bytes(digest[:8], "big")


def simulated_msts() -> dict[str, list[str]]:
    """The fixed MST populations of the other simulators (each is registered, by construction)."""
    return {"tax_sellers": seller_msts(), "customs_traders": trader_msts()}


def unknown_mst(rng: random.Random) -> str:
    """A well-formed MST (valid check digit) that no registry knows: province code 97..99."""
    while True:
        first9 = f"{rng.randint(LAST_PROVINCE + 1, 99)}{rng.randint(0, 9_999_999):07d}"
        check = mst_check_digit(first9)
        if check is not None:
            return f"{first9}{check}"


def _status(draw: int) -> str:
    per_mille = (draw >> 32) % 1000
    if per_mille < CLOSED_PER_MILLE:
        return "closed"
    if per_mille < CLOSED_PER_MILLE + SUSPENDED_PER_MILLE:
        return "suspended"
    return "active"


def _name(rng: random.Random) -> str:
    forms, weights = zip(*FORMS, strict=True)
    form = rng.choices(forms, weights)[0]
    trade = rng.choice(TRADES)
    brand = rng.choice(BRANDS)
    if form == "Hợp tác xã":
        return f"{form} {trade} {brand}"
    if rng.random() < 0.25:
        return f"{form} {trade} {brand} {rng.choice(PLACES)}"
    return f"{form} {trade} {brand}"
