"""Where the gateway's time goes: py-spy raw (collapsed) stacks, summed per ingest stage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def summarize(path: Path) -> dict[str, Any]:
    stages: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        stages["all"] += n
    return {"samples": total, "stages": dict(stages), "file": str(path)}
