"""`python -m simulators.treasury --drop DIR --count N [--bad-share F --malformed M
--duplicates D --rows-per-file R --seed S] [--follow --interval SECONDS --duration SECONDS]`."""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from simulators.treasury.system import TreasurySystem


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.treasury",
        description="Simulated KBNN TABMIS export: drop CSV files of budget transactions.",
    )
    parser.add_argument("--drop", type=Path, required=True, help="the drop folder to write into")
    parser.add_argument("--count", type=int, default=1000, help="transactions to export now")
    parser.add_argument("--rows-per-file", type=int, default=200, help="rows per export file")
    parser.add_argument("--bad-share", type=float, default=0.0, help="share of defective rows")
    parser.add_argument("--malformed", type=int, default=0, help="broken files to add")
    parser.add_argument("--duplicates", type=int, default=0, help="files to export twice")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth JSON-lines file")
    parser.add_argument("--follow", action="store_true", help="then keep dropping files")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between files")
    parser.add_argument("--duration", type=float, default=None, help="stop --follow after this")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.bad_share <= 1.0:
        print("--bad-share must be within [0, 1]", file=sys.stderr)
        return 2
    system = TreasurySystem(args.drop, truth_path=args.truth)
    rng = random.Random(args.seed)
    summary = system.export(
        args.count,
        rows_per_file=args.rows_per_file,
        bad_share=args.bad_share,
        malformed=args.malformed,
        duplicates=args.duplicates,
        rng=rng,
    )
    print(json.dumps({"exported": summary.to_dict(), "drop": str(args.drop)}), flush=True)
    if args.follow:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True
            timer.start()
        followed = system.run_follow(
            args.interval, stop, rows_per_file=args.rows_per_file, bad_share=args.bad_share,
            rng=rng,
        )  # fmt: skip
        print(json.dumps({"followed": followed.to_dict()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
