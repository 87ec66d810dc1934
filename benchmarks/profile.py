"""Where the gateway's time goes: py-spy raw (collapsed) stacks, summed per ingest stage.

A stack belongs to the first stage (in the order below) one of whose markers appears in any of
its frames, so the specific stages (GX, conform, encode) win over the enclosing ones (the
request, the transaction). Samples are non-idle samples of all threads: under the GIL, their
sum is roughly CPU time of the process.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

# (stage, markers): the first stage with a marker found in the stack wins.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("quality: pandas frame of the batch", ("_frame (schemas/quality.py",)),
    ("quality: Great Expectations suite", ("QualityGate.check", "(schemas/quality.py")),
    ("conform: JSON -> Avro values", ("AvroCodec.conform", "_Record.problems")),
    ("encode: Avro binary", ("encode_many", "AvroCodec.encode ")),
    ("parse: JSON body, request hash", ("_parse_records", "request_hash", "Request.body")),
    ("relay: build messages (DB read)", ("OutboxRelay._build_messages",)),
    ("relay: claim outbox (DB)", ("claim_outbox",)),
    ("relay: kafka-python send()", ("KafkaProducer.send",)),
    ("relay: flush, wait for acks", ("KafkaProducer.flush",)),
    ("relay: mark sent, commit (DB)", ("OutboxRelay.publish_pending",)),
    ("kafka-python network thread", ("kafka-python-producer", "Sender.run")),
    ("ingest: DB write + commit", ("store_batch", "Session.commit")),
    (
        "ingest: DB reads (auth, contract, idempotency)",
        ("load_contract", "find_batch_by_idempotency_key", "authenticate", "(gateway/auth.py"),
    ),
    ("relay: other", ("OutboxRelay",)),
    (
        "http: uvicorn, starlette, fastapi",
        ("(uvicorn/", "(starlette/", "(fastapi/", "(h11/", "(httptools/", "(anyio/"),
    ),
)
OTHER = "other"


def classify(stack: str) -> str:
    for stage, markers in STAGES:
        if any(marker in stack for marker in markers):
            return stage
    return OTHER


def summarize(path: Path) -> dict[str, Any]:
    """Samples per stage and per thread of a py-spy `--format raw --threads` file."""
    stages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()  # innermost frame of unclassified stacks
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?"
        threads["AnyIO worker" if thread.startswith("AnyIO worker") else thread] += n
        stage = classify(stack)
        stages[stage] += n
        if stage == OTHER:
            leaves[frames[-1]] += n
    return {
        "file": str(path),
        "samples": total,
        "stages": dict(stages.most_common()),
        "threads": dict(threads.most_common()),
        "other_leaves": dict(leaves.most_common(10)),
    }


def main() -> None:  # pragma: no cover - a helper for reading a profile by hand
    import json
    import sys

    for name in sys.argv[1:]:
        summary = summarize(Path(name))
        total = summary["samples"] or 1
        print(f"== {name}: {summary['samples']} samples")
        for stage, n in summary["stages"].items():
            print(f"{n / total:7.1%} {n:6d}  {stage}")
        print(json.dumps(summary["threads"], indent=1))
        print(json.dumps(summary["other_leaves"], indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
