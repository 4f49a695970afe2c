"""Tooling for the project's own tests and benchmarks, never imported by the service: it
lives in the package so that `tests/` and `benchmarks/` share it without one importing
the other."""
