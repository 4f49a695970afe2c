"""What the tests share, one job per module. Test modules import from here, never from
each other; conftest.py holds only fixtures.

Services and plumbing: `servers` (the session's PostgreSQL and Redis), `databases` (a
database per test, cloned from a migrated template), `worker` (a worker running in
process), `streams` (publishing and reading the Redis streams), `waiting`, `rows`
(reading rows back), `http` (GETs from a running worker), `tokens` (bearer tokens),
`event_bodies` (input events as producers publish them).

Features: `challenge_engine` / `attendance_engine` drive the pure engines in memory (unit
tests); `challenge_service` / `attendance_service` drive a running service (integration
tests); `attendance_seed` is seed 000's edition and example response; `replay` holds
the replay and recompute helpers.
"""
