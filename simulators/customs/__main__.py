"""`python -m simulators.customs --token T [--port 8100 --count N --bad-share F --seed S
--rate R --change-every SECONDS --change-share F --faults]`: serve the simulated VNACCS API."""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
from collections.abc import Sequence

from simulators.customs.app import Faults
from simulators.customs.server import serve
from simulators.customs.system import CustomsSystem


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.customs",
        description="Simulated TCHQ VNACCS: an HTTP API of customs declarations.",
    )
    parser.add_argument("--token", required=True, help="the bearer token clients must send")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--count", type=int, default=1000, help="declarations registered at start")
    parser.add_argument("--bad-share", type=float, default=0.0, help="share of defective ones")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rate", type=float, default=0.0, help="new declarations per second")
    parser.add_argument(
        "--change-every",
        type=float,
        default=0.0,
        help="every this many seconds, move some declarations on (0: never)",
    )
    parser.add_argument(
        "--change-share",
        type=float,
        default=0.3,
        help="share of registered declarations cleared/cancelled each time",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="inject faults: 5%% 429, 5%% 5xx, 5%% slow, 1%% hanging pages",
    )
    parser.add_argument("--hang-seconds", type=float, default=35.0, help="a hanging page's delay")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.bad_share <= 1.0:
        print("--bad-share must be within [0, 1]", file=sys.stderr)
        return 2
    system = CustomsSystem()
    rng = random.Random(args.seed)
    system.register(args.count, bad_share=args.bad_share, rng=rng)
    faults = (
        Faults(rate_limit=0.05, server_error=0.05, slow=0.05, hang=0.01,
               hang_seconds=args.hang_seconds, seed=args.seed)
        if args.faults
        else Faults()
    )  # fmt: skip
    stop = threading.Event()
    if args.rate > 0 or args.change_every > 0:
        threading.Thread(target=_world, args=(system, args, rng, stop), daemon=True).start()
    print(json.dumps({"declarations": system.count(), "url": f"http://{args.host}:{args.port}"}),
          flush=True)  # fmt: skip
    try:
        serve(system, token=args.token, faults=faults, host=args.host, port=args.port)
    finally:
        stop.set()
    return 0


def _world(
    system: CustomsSystem, args: argparse.Namespace, rng: random.Random, stop: threading.Event
) -> None:
    """New declarations at `--rate`, state changes every `--change-every` seconds."""
    tick = 0.5
    elapsed = 0.0
    since_change = 0.0
    while not stop.wait(tick):
        elapsed += tick
        since_change += tick
        if args.rate > 0:
            system.register(int(args.rate * tick + rng.random()), bad_share=args.bad_share,
                            rng=rng)  # fmt: skip
        if args.change_every > 0 and since_change >= args.change_every:
            since_change = 0.0
            system.advance(args.change_share, rng=rng)


if __name__ == "__main__":
    sys.exit(main())
