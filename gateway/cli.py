"""`fdxp`: the hub's command line — the composition root for processes.

fdxp run        serve the gateway (embedded broker when FDXP_KAFKA_BOOTSTRAP is unset)
fdxp relay      publish the outbox to Kafka, alone (scaled-out deployments)
fdxp demo       the whole path end to end, with a summary table
fdxp migrate    bring the database to the newest schema
fdxp keys create --unit U --role R     make an API key (direct database access)
fdxp sim tax    the simulated tax system
fdxp connector run tax ...             a unit's connector
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from pydantic import ValidationError
from rich.console import Console

from gateway.settings import Settings

console = Console(stderr=True)


def _exit_on_sigterm() -> None:
    # SIGTERM unwinds like Ctrl-C, so every `with` (the embedded broker above all) cleans up.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            console.print(f"[red]configuration error:[/red] {error['msg']}")
        raise SystemExit(2) from None


# --- fdxp run ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()  # first: a refused configuration fails before slow imports

    import uvicorn

    from gateway.app import create_app
    from gateway.broker import EmbeddedBroker

    with ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap
        if not bootstrap:
            console.print("starting the embedded broker (Tansu)...")
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
            console.print(f"embedded broker on [bold]{bootstrap}[/bold]")
        app = create_app(settings, kafka_bootstrap=bootstrap)
        console.print(f"gateway on http://{args.host}:{args.port}  (docs: /docs)")
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


# --- fdxp relay --------------------------------------------------------------------------------
def cmd_relay(args: argparse.Namespace) -> int:
    from gateway.database import build_engine, is_postgres, session_factory
    from gateway.relay import OutboxRelay

    settings = load_settings()
    if not settings.kafka_bootstrap:
        console.print("[red]fdxp relay needs FDXP_KAFKA_BOOTSTRAP[/red] (the broker to publish to)")
        return 2
    engine = build_engine(settings.resolved_database_url)
    relay = OutboxRelay(
        sessions=session_factory(engine),
        settings=settings,
        bootstrap=settings.kafka_bootstrap,
        lock_rows=is_postgres(engine),
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print(f"relay: outbox of {engine.url.render_as_string()} -> {settings.kafka_bootstrap}")
    relay.run(stop)
    engine.dispose()
    console.print(f"relay stopped; published {relay.published} messages")
    return 0


# --- fdxp migrate / keys -----------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    from gateway.app import prepare_database
    from gateway.database import build_engine

    settings = load_settings()
    engine = build_engine(settings.resolved_database_url)
    generated = prepare_database(engine, settings)
    engine.dispose()
    console.print("database migrated and seeded")
    if generated:
        console.print(f"development admin key (shown once): [bold]{generated}[/bold]")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from catalog import repository
    from gateway.app import prepare_database
    from gateway.database import build_engine, session_factory

    settings = load_settings()
    engine = build_engine(settings.resolved_database_url)
    prepare_database(engine, settings)
    with session_factory(engine)() as session:
        if repository.get_unit(session, code=args.unit) is None:
            console.print(f"[red]unknown unit {args.unit}[/red]")
            return 2
        key, plaintext = repository.create_api_key(
            session, unit_code=args.unit, role=args.role, label=args.label
        )
        session.commit()
    engine.dispose()
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(plaintext + "\n")
        console.print(f"key {key.id} ({args.unit}, {args.role}) written to {out}")
    else:
        print(plaintext)
    return 0


# --- fdxp sim tax ------------------------------------------------------------------------------
def cmd_sim_tax(args: argparse.Namespace) -> int:
    import random

    from simulators.tax import TaxSystem

    system = TaxSystem(Path(args.db))
    rng = random.Random(args.seed)
    if args.count:
        summary = system.issue(args.count, bad_share=args.bad_share, rng=rng)
        console.print(
            f"tax system: issued {summary.total} invoices ({summary.bad} bad) in {args.db}"
        )
    if args.follow:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        console.print(f"tax system: issuing about {args.rate}/s until stopped")
        system.run_follow(args.rate, stop, bad_share=args.bad_share, rng=rng)
    return 0


def cmd_sim_delegate(args: argparse.Namespace) -> int:
    """`fdxp sim treasury|customs ...` runs the simulator's own command line unchanged."""
    import importlib

    module = importlib.import_module(f"simulators.{args.system}.__main__")
    raw: list[str] = args.raw_argv
    return int(module.main(raw[raw.index(args.system) + 1 :]))


# --- fdxp connector run ------------------------------------------------------------------------
def _connector_key(args: argparse.Namespace) -> str:
    if args.key:
        return str(args.key)
    if args.key_file:
        return Path(args.key_file).read_text().strip()
    key = os.environ.get("FDXP_CONNECTOR_KEY")
    if not key:
        console.print("[red]an API key is needed:[/red] --key, --key-file or FDXP_CONNECTOR_KEY")
        raise SystemExit(2)
    return key


def cmd_connector_run(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from connectors import FatalError, RetriableError, SyncSummary, run_connector

    key = _connector_key(args)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"connector {args.name}: starting", total=None)

        def on_progress(summary: SyncSummary) -> None:
            progress.update(
                task,
                description=(
                    f"connector {args.name}: {summary.batches} batches, {summary.accepted} "
                    f"accepted, {summary.rejected} rejected, cursor {summary.cursor}"
                ),
            )

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
                on_progress=on_progress,
                source_token=args.source_token,
                options={
                    name: value
                    for name, value in (
                        ("timeout", args.source_timeout),
                        ("max_wait", args.source_max_wait),
                    )
                    if value is not None
                },
                linger=args.linger,
            )
        except FatalError as exc:
            console.print(f"[red]connector {args.name} stopped:[/red] {exc}")
            return 2
        except RetriableError as exc:
            console.print(
                f"[yellow]connector {args.name}: the hub is still unavailable ({exc}); "
                "run again to resume from the checkpoint[/yellow]"
            )
            return 1
    console.print(
        f"connector {args.name}: {summary.batches} batches, {summary.sent} sent, "
        f"{summary.accepted} accepted, {summary.rejected} rejected"
    )
    return 0


# --- fdxp bench -------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.__main__ import run_from_args

    return run_from_args(args, console)


# --- fdxp demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    ok = run_demo(
        count=args.count,
        bad_share=args.bad_share,
        seed=args.seed,
        batch_size=args.batch_size,
        serve=args.serve,
        port=args.port,
        console=console,
    )
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fdxp", description="FDXP data-integration hub")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="serve the gateway")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--log-level", default="info")
    run.set_defaults(func=cmd_run)

    sub.add_parser("relay", help="publish the outbox to Kafka").set_defaults(func=cmd_relay)
    sub.add_parser("migrate", help="migrate and seed the database").set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create an API key (prints it once)")
    create.add_argument("--unit", required=True)
    create.add_argument("--role", required=True, choices=["admin", "publisher", "consumer"])
    create.add_argument("--label")
    create.add_argument("--out", help="write the key to this file (mode 0600) instead")
    create.set_defaults(func=cmd_keys_create)

    sim = sub.add_parser("sim", help="simulated unit systems").add_subparsers(
        dest="system", required=True
    )
    tax = sim.add_parser("tax", help="the tax system's e-invoice database")
    tax.add_argument("--db", required=True, help="the tax system's SQLite file")
    tax.add_argument("--count", type=int, default=0, help="invoices to issue now")
    tax.add_argument("--bad-share", type=float, default=0.1, help="share of defective rows")
    tax.add_argument("--seed", type=int, default=42)
    tax.add_argument("--follow", action="store_true", help="keep issuing new invoices")
    tax.add_argument("--rate", type=float, default=20.0, help="invoices per second (--follow)")
    tax.set_defaults(func=cmd_sim_tax)
    from simulators.customs.__main__ import build_parser as customs_parser
    from simulators.treasury.__main__ import build_parser as treasury_parser

    for name, parent in (("treasury", treasury_parser()), ("customs", customs_parser())):
        simulator = sim.add_parser(
            name,
            parents=[parent],
            add_help=False,
            conflict_handler="resolve",
            help=parent.description,
        )
        simulator.set_defaults(func=cmd_sim_delegate, system=name)

    connector = sub.add_parser("connector", help="unit connectors").add_subparsers(
        dest="action", required=True
    )
    crun = connector.add_parser("run", help="run a connector")
    crun.add_argument("name", choices=["tax", "treasury", "customs"])
    crun.add_argument(
        "--source",
        required=True,
        help="tax: the SQLite file; treasury: the drop folder; customs: the API base URL",
    )
    crun.add_argument(
        "--source-token",
        default=os.environ.get("FDXP_SOURCE_TOKEN"),
        help="the source's own credential (customs API token; default $FDXP_SOURCE_TOKEN)",
    )
    crun.add_argument("--source-timeout", type=float, help="seconds per source request")
    crun.add_argument("--source-max-wait", type=float, help="how long to wait out a down source")
    crun.add_argument("--linger", type=float, default=0.0, help="--follow: max batch wait, s")
    crun.add_argument("--hub", default="http://127.0.0.1:8000", help="the gateway's base URL")
    crun.add_argument("--key", help="the unit's API key")
    crun.add_argument("--key-file", help="a file holding the unit's API key")
    crun.add_argument("--checkpoint", required=True, help="where the cursor is kept")
    crun.add_argument("--batch-size", type=int, default=500)
    crun.add_argument("--poll-interval", type=float, default=1.0)
    mode = crun.add_mutually_exclusive_group()
    mode.add_argument("--once", dest="follow", action="store_false", help="sync and exit")
    mode.add_argument("--follow", dest="follow", action="store_true", help="keep polling")
    crun.set_defaults(func=cmd_connector_run, follow=False)

    from benchmarks.__main__ import add_arguments as bench_arguments

    bench = sub.add_parser(
        "bench", help="the hub against a plain Kafka producer, same broker, same records"
    )
    bench_arguments(bench)
    bench.set_defaults(func=cmd_bench)

    demo = sub.add_parser("demo", help="the whole path end to end, with a summary")
    demo.add_argument("--count", type=int, default=5000, help="invoices the tax system issues")
    demo.add_argument("--bad-share", type=float, default=0.1)
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--batch-size", type=int, default=1000)
    demo.add_argument("--serve", action="store_true", help="keep the gateway up afterwards")
    demo.add_argument("--port", type=int, default=8000, help="gateway port with --serve")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    args.raw_argv = raw
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kafka-python logs every refused connection and slow poll itself; the hub handles both
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    _exit_on_sigterm()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
