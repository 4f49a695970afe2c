"""Throughput, end-to-end latency, CPU cost and exactness of `loyalty-progress` workers.

What it measures, for every run, batch size (`LOYALTY_BATCH_SIZE`) and variant:

* **Sustained throughput**: distinct events applied / seconds, from the first XADD (the id
  of the first input entry) until every entry of the four input streams is delivered and
  acknowledged, read with Redis `TIME`. Events are published as fast as pipelined XADDs
  allow (or paced with `--rate`), so the workers are saturated from the first second.
* **End-to-end latency** p50 / p99: per notification, its entry id (ms) minus the entry id
  of the input event in its `caused_by`; both Redis timestamps.
* **CPU per event** of the worker processes and of PostgreSQL, machine busy, and the
  sampled wait events of the benchmark database's backends during the drain.
* **Exactness**: totals, receipt states and notifications against an oracle computed here
  from the published events; with definitions (the default: `benchmarks/definitions.yaml`)
  also every challenge counter of every member and group and occurrence, completions,
  milestones, limited winners, rewards issued once, and attendance days and completions,
  against oracles written from the docs, not from the engine's code.

Each run gets a fresh database and stream prefix, migrated, the program applied, N worker
processes (`python -m loyalty_progress run`, one consumer group) stopped with SIGTERM.
Variants: the program (default), `--no-definitions` (the backbone), `--compare` (both,
interleaved, with their ratio), `--challenges K[,K]` (generated challenges on top),
`--replicas N[,N]`.

Run `python benchmarks/throughput.py --help`; benchmarks/README.md explains the output.
The code lives in `benchmarks/bench/`, one module per job.
"""

from __future__ import annotations

import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
