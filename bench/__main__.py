"""`python -m bench [--quick | --full]`: the connector's benchmarks on local Kafka and the
local mParticle endpoint. Prints a table; the last two lines are `ratio vs raw aiokafka: X.XX`
and `ratio vs Faust pass-through: X.XX` (the worker on input keyed by walletId).

    --quick   smoke run (small sizes, same code paths), well under 2 minutes
    (default) at most ~10 minutes on 2 cores; memory at 10k and 100k events
    --full    the issue's sizes: memory at 100k and 1M events (about an hour on 2 cores)

Default and full runs rewrite the generated section of docs/benchmarks.md and its plot
(`--no-docs` to skip); every run writes var/bench/results-<profile>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import edges, mapping, memory, processor, report, scaleout, sink
from bench.common import DEFAULT, FULL, QUICK, Sizes, say
from testkit.localkafka import LocalKafka
from testkit.processes import ROOT

STEPS = ("mapping", "processor", "scaleout", "sink", "edges", "memory")


def _kafka() -> LocalKafka:
    return LocalKafka(heap="1g").start()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke run: small sizes")
    size.add_argument("--full", action="store_true", help="memory at 100k and 1M events")
    parser.add_argument(
        "--store", default="rocksdb://", help="worker table store (default: rocksdb://)"
    )
    parser.add_argument("--only", choices=STEPS, action="append", help="run only these steps")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/ alone")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = QUICK if args.quick else FULL if args.full else DEFAULT
    steps = args.only or list(STEPS)
    command = "make bench" + (" QUICK=1" if args.quick else "")
    if args.full or args.only or args.store != "rocksdb://":
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict[str, Any] = {
        "profile": sizes.name,
        "command": command,
        "sizes": sizes.__dict__,
        "machine": report.machine(),
    }
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="airmp-bench-"))
    ok = False
    say(f"benchmarks ({sizes.name}); worker logs in {workdir}")
    kafka = _kafka()
    try:
        _run_steps(steps, kafka, workdir, sizes, args.store, results)
        ok = True
    finally:
        kafka.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"benchmarks failed; worker logs kept in {workdir}")
    results["seconds"] = time.monotonic() - started
    _report(results, sizes.name, docs=not args.quick and not args.no_docs)
    return 0


def _run_steps(
    steps: list[str],
    kafka: LocalKafka,
    workdir: Path,
    sizes: Sizes,
    store: str,
    results: dict[str, Any],
) -> None:
    """Each step asked for, in STEPS' order, its results into `results`."""
    bootstrap = kafka.bootstrap
    if "mapping" in steps:
        results["mapping"] = mapping.run(sizes).as_json()
        sandbox = mapping.sandbox_notifications(sizes.mapping_events)
        if sandbox is not None:
            run = mapping.run(sizes, profile=False, events=sandbox, label="AIR sandbox")
            results["mapping_sandbox"] = run.as_json()
    if "processor" in steps:
        p = processor.run(bootstrap, workdir, sizes, store)
        results["processor"] = p.as_json()
        results["latencies_ms"] = p.workers["wallet"].latencies_ms
    if "scaleout" in steps:
        broker_pid = kafka.process.pid if kafka.process is not None else None
        results["scaleout"] = scaleout.run(bootstrap, broker_pid, workdir, sizes).as_json()
    if "sink" in steps:
        runs = sink.run(bootstrap, workdir, sizes)
        results["sink"] = {
            "records": sizes.sink_records,
            "rate_limit": sizes.sink_rate_limit,
            "window": runs[0].window if runs else 1.0,
            "merge_false": sink.medians(runs, False),
            "merge_true": sink.medians(runs, True),
            "runs": [r.as_json() for r in runs],
        }
    if "edges" in steps:
        results["edges"] = edges.run(bootstrap, workdir, sizes).as_json()
    if "memory" in steps:
        results["memory"] = memory.run(bootstrap, workdir, sizes, store).as_json()


def _report(results: dict[str, Any], profile: str, docs: bool) -> None:
    """The results file, docs/benchmarks.md (`docs`), the table and the ratio lines."""
    out = ROOT / "var" / "bench" / f"results-{profile}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    if docs:
        report.write_docs(results, ROOT / "docs" / "benchmarks.md")
    print()
    print(report.header(results))
    print()
    print(report.table(results))
    print()
    say(f"results in {out}; {results['seconds']:.0f} s in all")
    for line in report.ratio_lines(results):
        print(line, flush=True)


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the worker and the broker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
