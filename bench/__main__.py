"""`python -m bench`: run every scenario once, print the tables, update BENCHMARKS.md."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench.procs import Children
from bench.report import Machine, render, write_benchmarks
from bench.results import targets
from bench.run import Bench, CpuPlan, Options, log, wrk_version
from bench.wrk import find_wrk

ROOT = Path(__file__).resolve().parent.parent


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Sidecar benchmark: mock provider, Elasticsearch stand-in and sidecar on 127.0.0.1, load from wrk.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="length of the warm-up run before each (default 2)")
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="scenario 1: direct and sidecar alternate in this many runs of seconds/slices each (default 5; "
        "1 with --profile)",
    )
    parser.add_argument(
        "--only", default="1,2,3,4,5", help="scenarios to run, comma-separated (default all: 1,2,3,4,5)"
    )
    parser.add_argument("--no-latency-row", action="store_true", help="skip scenario 1's 20 ms provider row")
    parser.add_argument("--no-single-row", action="store_true", help="skip scenario 1's one-connection row")
    parser.add_argument("--no-paced-row", action="store_true", help="skip scenario 1's paced (half-load) row")
    parser.add_argument(
        "--sidecar-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra SIDECAR_* setting for the sidecar (experiments; repeatable)",
    )
    parser.add_argument("--uvloop", action="store_true", help="experiment: run the sidecar on uvloop (pip install it)")
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="DIR", help="py-spy the sidecar in each measured run (root)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="file with the generated block")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (the path is printed)")
    return parser.parse_args(argv)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    wrk = find_wrk()
    if wrk is None:
        print("bench: wrk is not installed; run `make bench-tools` (apt-get install -y wrk) first", file=sys.stderr)
        return 2
    try:
        scenarios = frozenset(int(part) for part in args.only.split(",") if part.strip())
    except ValueError:
        print(f"bench: --only takes scenario numbers like 1,3: {args.only!r}", file=sys.stderr)
        return 2
    sidecar_env = dict(item.split("=", 1) for item in args.sidecar_env if "=" in item)
    options = Options(
        seconds=args.seconds,
        warmup=args.warmup,
        scenarios=scenarios,
        latency_row=not args.no_latency_row,
        single_connection_row=not args.no_single_row,
        paced_row=not args.no_paced_row,
        sidecar_env=sidecar_env,
        uvloop=args.uvloop,
        profile_dir=args.profile,
        slices=1 if args.profile is not None else max(1, min(args.slices, int(args.seconds))),
    )
    cpus = CpuPlan.make()
    os.sched_setaffinity(0, cpus.load)  # the driver stays off the sidecar's core
    signal.signal(signal.SIGTERM, _terminate)
    logdir = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    started = time.perf_counter()
    keep_logs = args.keep_logs
    try:
        with Children(logdir) as children:
            results = Bench(options, wrk, children, cpus).run()
    except KeyboardInterrupt:
        log("bench: interrupted; every server stopped")
        return 130
    except BaseException:
        keep_logs = True  # the servers' logs explain most failures
        raise
    finally:
        if keep_logs:
            log(f"server logs: {logdir}")
        else:
            for path in logdir.iterdir():
                path.unlink()
            logdir.rmdir()
    command = "make bench" if not argv and len(sys.argv) <= 1 else "python -m bench " + shlex.join(argv or sys.argv[1:])
    machine = Machine.describe(wrk_version(wrk))
    block = render(results, machine, command, cpus.describe(), args.seconds, args.warmup, options.slices)
    print(block)
    if not args.no_write:
        write_benchmarks(args.output, block)
        log(f"wrote {args.output}")
    missed = [target.name for target in targets(results) if target.passed is False]
    log(f"total {time.perf_counter() - started:.0f} s; targets missed: {len(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
