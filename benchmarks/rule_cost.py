"""CPU of the counter-challenge rule's pure steps per event, in-process, no services.

For changes to the engine too small for `throughput.py` to tell from the machine's noise:
the same workload and program, the rule's steps only (`bench/rule_cost.py` says which).
Compare two checkouts with `PYTHONPATH=<checkout>/src`; for a repeatable figure run it
under `valgrind --tool=callgrind` and subtract the instructions of `--skip-rule`
(benchmarks/README.md, "The rule alone").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.program import DEFAULT_PROGRAM, load_program
from bench.rule_cost import measure
from bench.workload import Generator


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--definitions", type=Path, default=DEFAULT_PROGRAM)
    parser.add_argument(
        "--challenges", type=int, default=0, help="generated challenges in the busiest club"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--skip-rule", action="store_true", help="everything but the rule (the baseline)"
    )
    args = parser.parse_args()
    program = load_program("program", [args.definitions], args.challenges, args.seed)
    workload = Generator(args.seed, args.members).build(args.events, 0.0)
    cost = measure(workload, program, args.batch_size, args.skip_rule)
    print(
        f"{program.describe()}: {cost.events:,} events in {cost.batches} batches, "
        f"rule {cost.micros_per_event:.1f} µs CPU per event "
        f"({cost.ledger_lines:,} ledger lines, {cost.progress_rows:,} progress rows written)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
