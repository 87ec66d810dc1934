"""Records/s from source to hub for the treasury and customs connectors.

`python -m benchmarks.connector_throughput [--rows 20000] [--batch-size 1000]`: a gateway
(SQLite in a temp dir, embedded broker, relay on) served by uvicorn on a free port; each
simulator fills its source with good rows (no faults), then the connector runs once and the
time from its start until the hub acknowledged the last batch is measured.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import httpx
import uvicorn

from connectors import run_connector
from gateway.app import create_app
from gateway.broker import EmbeddedBroker, free_port
from gateway.settings import Settings
from simulators.customs import CustomsSystem, running
from simulators.treasury import export


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    admin = "bench-admin-" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        settings = Settings(env="development", data_dir=tmp, admin_key=admin)
        app = create_app(settings, kafka_bootstrap=broker.bootstrap)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        hub = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})

        def key(unit: str) -> str:
            return str(hub.post("/v1/keys", json={"unit": unit, "role": "publisher"}).json()["key"])

        drop = Path(tmp) / "drop"
        export(drop, args.rows, rows_per_file=5000, seed=1)
        started = time.perf_counter()
        summary = run_connector(
            "treasury",
            hub_url=url,
            api_key=key("KBNN"),
            source=drop,
            checkpoint_path=Path(tmp) / "t.json",
            batch_size=args.batch_size,
        )
        elapsed = time.perf_counter() - started
        print(
            f"treasury: {summary.accepted} records in {elapsed:.2f}s = "
            f"{summary.accepted / elapsed:,.0f} records/s (batch {args.batch_size})"
        )

        system = CustomsSystem()
        system.register(args.rows, rng=random.Random(2))
        with running(system, token="bench") as source:
            started = time.perf_counter()
            summary = run_connector(
                "customs",
                hub_url=url,
                api_key=key("TCHQ"),
                source=source,
                source_token="bench",
                options={"page_size": 500},
                checkpoint_path=Path(tmp) / "c.json",
                batch_size=args.batch_size,
            )
            elapsed = time.perf_counter() - started
        print(
            f"customs: {summary.accepted} records in {elapsed:.2f}s = "
            f"{summary.accepted / elapsed:,.0f} records/s (batch {args.batch_size})"
        )
        server.should_exit = True


if __name__ == "__main__":
    main()
