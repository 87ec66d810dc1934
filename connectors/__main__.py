"""`python -m connectors NAME --source SOURCE --hub URL --key KEY --checkpoint PATH [--follow]`.

NAME is tax (source: SQLite file), treasury (source: drop folder) or customs (source: the VNACCS
API base URL, with --source-token or $FDXP_SOURCE_TOKEN).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from connectors.base import SyncSummary
from connectors.errors import FatalError, RetriableError
from connectors.runner import CONNECTORS, run_connector

KEY_ENV = "FDXP_CONNECTOR_KEY"
SOURCE_TOKEN_ENV = "FDXP_SOURCE_TOKEN"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set `stop` (the current batch finishes and is checkpointed); returns a
    function restoring the previous handlers. Signals can only be caught on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors", description="Publish a unit system's data to the FDXP hub."
    )
    parser.add_argument("name", choices=sorted(CONNECTORS), help="which connector to run")
    parser.add_argument(
        "--source",
        required=True,
        help="tax: its SQLite file; treasury: the drop folder; customs: the API base URL",
    )
    parser.add_argument(
        "--source-token",
        default=None,
        help=f"the source's own credential (customs: VNACCS token; default ${SOURCE_TOKEN_ENV})",
    )
    parser.add_argument(
        "--source-timeout", type=float, default=10.0, help="customs: seconds per API request"
    )
    parser.add_argument(
        "--source-max-wait",
        type=float,
        default=300.0,
        help="customs: seconds to keep retrying a failing source before giving up",
    )
    parser.add_argument("--hub", required=True, help="hub base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", default=None, help=f"the unit's API key (default: ${KEY_ENV})")
    parser.add_argument("--checkpoint", type=Path, required=True, help="cursor checkpoint file")
    parser.add_argument("--batch-size", type=int, default=500, help="records per batch")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", dest="follow", action="store_false", help="sync and exit (default)")
    mode.add_argument("--follow", dest="follow", action="store_true", help="keep polling")
    parser.set_defaults(follow=False)  # else the first action's (--once) default, True, wins
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument(
        "--linger",
        type=float,
        default=0.0,
        help="--follow: seconds a short batch may wait to fill up (batching by size and time)",
    )
    parser.add_argument("--max-attempts", type=int, default=5, help="attempts per batch")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout, seconds")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each batch")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    key = args.key or os.environ.get(KEY_ENV)
    if not key:
        parser.error(f"an API key is required: --key or ${KEY_ENV}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def progress(summary: SyncSummary) -> None:
        if args.verbose:
            logging.getLogger("connectors").info(
                "batch %d: cursor %s, accepted %d, rejected %d",
                summary.batches,
                summary.cursor,
                summary.accepted,
                summary.rejected,
            )

    restore = stop_on_signals(stop)
    try:
        summary = run_connector(
            args.name,
            hub_url=args.hub,
            api_key=key,
            source=args.source,
            checkpoint_path=args.checkpoint,
            batch_size=args.batch_size,
            once=not args.follow,
            poll_interval=args.poll_interval,
            stop_event=stop,
            on_progress=progress,
            timeout=args.timeout,
            max_attempts=args.max_attempts,
            source_token=args.source_token or os.environ.get(SOURCE_TOKEN_ENV),
            options={"timeout": args.source_timeout, "max_wait": args.source_max_wait},
            linger=args.linger,
        )
    except FatalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RetriableError as exc:
        print(f"error: unavailable after retries, run again to resume: {exc}", file=sys.stderr)
        return 1
    finally:
        restore()
    result = asdict(summary)
    result.pop("batch_ids")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
