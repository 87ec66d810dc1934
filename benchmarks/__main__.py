"""`python -m benchmarks [--records N] [--batch-size B] [--publishers C] [--databases ...]
[--out DIR] [--profile]` — the same as `fdxp bench`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fdxp bench",
        description="the hub against a plain kafka-python producer: same broker, same records",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options, for `fdxp bench` to reuse."""
    parser.add_argument("--records", type=int, default=20_000, help="records per run (N)")
    parser.add_argument("--batch-size", type=int, default=1_000, help="records per POST (B)")
    parser.add_argument("--publishers", type=int, default=2, help="concurrent publishers (C)")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (PostgreSQL is skipped when unreachable)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("FDXP_BENCH_POSTGRES_URL"),
        help="a server where a fresh database is created and dropped "
        "(default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)",
    )
    parser.add_argument("--out", type=Path, help="write bench.json and bench.png here")
    parser.add_argument(
        "--no-half-load", dest="half_load", action="store_false", help="skip the paced run"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the gateway during the max-load run"
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL",
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="FDXP_X=V",
        help="an extra setting for the gateway process, e.g. FDXP_RELAY_BATCH_SIZE=5000",
    )
    parser.add_argument(
        "--relay-process",
        action="store_true",
        help="run the relay as its own process (fdxp relay) instead of a gateway thread",
    )
    parser.add_argument("--seed", type=int, default=2026)


def run_from_args(args: argparse.Namespace, console: Console) -> int:
    from benchmarks import run_bench

    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    gateway_env = {}
    for item in args.gateway_env:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("FDXP_"):
            console.print(f"[red]--gateway-env wants FDXP_NAME=VALUE, got {item!r}[/red]")
            return 2
        gateway_env[name] = value
    report = run_bench(
        records=args.records,
        batch_size=args.batch_size,
        publishers=args.publishers,
        databases=databases,
        postgres_url=args.postgres_url,
        out_dir=args.out,
        console=console,
        half_load=args.half_load,
        profile=args.profile or args.profile_gil,
        profile_gil=args.profile_gil,
        gateway_env=gateway_env,
        relay_process=args.relay_process,
        seed=args.seed,
    )
    complete = all(h.consumed == h.records for h in report.hubs if h.status == "ok")
    return 0 if complete and any(h.status == "ok" for h in report.hubs) else 1


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    args = build_parser().parse_args(argv)
    return run_from_args(args, Console())


if __name__ == "__main__":
    sys.exit(main())
