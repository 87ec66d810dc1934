"""`python -m simulators.tax --db PATH --count N --bad-share 0.1 --seed 42 [--follow --rate 50]`."""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from simulators.tax.system import TaxSystem


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.tax",
        description="Simulated TCT e-invoice system: fill (and keep filling) its SQLite database.",
    )
    parser.add_argument("--db", type=Path, required=True, help="SQLite file of the tax system")
    parser.add_argument("--count", type=int, default=1000, help="invoices to issue at once")
    parser.add_argument(
        "--bad-share", type=float, default=0.0, help="share of rows with one known defect (0..1)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (deterministic rows)")
    parser.add_argument("--follow", action="store_true", help="then keep issuing until interrupted")
    parser.add_argument("--rate", type=float, default=50.0, help="invoices per second in --follow")
    parser.add_argument(
        "--duration", type=float, default=None, help="stop --follow after this many seconds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.bad_share <= 1.0:
        print("--bad-share must be within [0, 1]", file=sys.stderr)
        return 2
    system = TaxSystem(args.db)
    rng = random.Random(args.seed)
    summary = system.issue(args.count, bad_share=args.bad_share, rng=rng)
    print(json.dumps({"issued": summary.to_dict(), "db": str(args.db)}), flush=True)
    if args.follow:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
        if args.duration is not None:
            timer = threading.Timer(args.duration, stop.set)
            timer.daemon = True
            timer.start()
        followed = system.run_follow(args.rate, stop, bad_share=args.bad_share, rng=rng)
        print(json.dumps({"followed": followed.to_dict(), "total": system.count()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
