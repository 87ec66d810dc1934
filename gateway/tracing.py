"""W3C Trace Context (`traceparent`): one trace id from the connector through the gateway,
the Kafka headers, NDXP calls, the audit log, the message log and the logs."""

from __future__ import annotations

import os
import re

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_traceparent() -> str:
    """A new trace, sampled."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def valid_traceparent(value: str | None) -> str | None:
    """`value` if it is a well-formed version-00 traceparent with non-zero ids, else None."""
    if not value:
        return None
    match = TRACEPARENT.match(value.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(0)


def child_traceparent(parent: str | None) -> str:
    """The traceparent of an outgoing call: the same trace, a new span (a new trace if none)."""
    valid = valid_traceparent(parent)
    if valid is None:
        return new_traceparent()
    _, trace_id, _, flags = valid.split("-")
    return f"00-{trace_id}-{os.urandom(8).hex()}-{flags}"


def trace_id(traceparent: str | None) -> str | None:
    valid = valid_traceparent(traceparent)
    return valid.split("-")[1] if valid else None
