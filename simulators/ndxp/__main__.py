"""`python -m simulators.ndxp --admin-token T [--port 8200] [--member "VN/GOV/...=http://..."]
[--provider-timeout S] [--registry-seed N]`: serve the simulated NDXP.

Prints one JSON line first: the URL and, for each `--member`, its `member_id`, `token` and
`proof_key` (what the hub's settings need), then serves until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from simulators.ndxp.errors import NdxpError
from simulators.ndxp.platform import REGISTRY_MEMBER, REGISTRY_SERVICE, Platform, service_id
from simulators.ndxp.registry import EnterpriseRegistry
from simulators.ndxp.server import DEFAULT_PORT, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.ndxp",
        description="Simulated NDXP, the national data-exchange platform (X-Road style).",
    )
    parser.add_argument("--admin-token", required=True, help="the platform admin's bearer token")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="ID[=PROVIDER_URL]",
        help="create this member at start (repeatable), e.g. VN/GOV/000.00.00.G12/FDXP="
        "http://127.0.0.1:8000; its name is its subsystem code",
    )
    parser.add_argument(
        "--provider-timeout", type=float, default=10.0, help="seconds a provider may take"
    )
    parser.add_argument("--registry-seed", type=int, default=2026)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    platform = Platform(
        registry=EnterpriseRegistry(seed=args.registry_seed),
        provider_timeout=args.provider_timeout,
    )
    members = []
    for spec in args.member:
        member_id, _, url = spec.partition("=")
        try:
            member = platform.add_member(member_id, member_id.rsplit("/", 1)[-1], url or None)
        except NdxpError as exc:
            print(f"--member {spec!r}: {exc.message}", file=sys.stderr)
            return 2
        members.append({**member.credentials(), "provider_url": member.provider_url})
    summary = {
        "url": f"http://{args.host}:{args.port}",
        "members": members,
        "registry": service_id(REGISTRY_MEMBER, REGISTRY_SERVICE),
    }
    print(json.dumps(summary), flush=True)
    serve(platform, admin_token=args.admin_token, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
