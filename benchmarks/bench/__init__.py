"""The modules of `benchmarks/throughput.py`, one job each.

| module | job |
|---|---|
| `workload` | the seeded events (receipts, points, vouchers, member facts) |
| `program` | the definitions a run applies: the default program file, generated challenges |
| `oracle` | per-member totals, receipt states and receipt notifications, from the events |
| `challenge_oracle` | counter values, completion bounds of every challenge subject |
| `attendance_oracle` | attendance days, memberships and completion bounds per edition |
| `stored` | what the worker left in PostgreSQL and Redis, read back |
| `checks` | stored state against the oracles: the `exact` column |
| `services` | URLs, a raw pipelined Redis connection for the publisher |
| `cpu` | CPU seconds per process from `/proc` |
| `waits` | sampled `pg_stat_activity` wait events during the drain |
| `run` | one measured run: database, workers, publish, drain, verify |
| `report` | medians, tables, ratios and the lines above the table |
| `plot` | the PNG charts of `--plot` (the only module that imports matplotlib) |
| `cli` | arguments, the order of runs, the summary |

The worker processes themselves are `loyalty_progress.testing.worker_process.WorkerProcess`,
the class the fault tests start their replicas with.
"""
