"""`benchmarks/rule_cost.py` measures the real rule: driven through its in-memory rows, the
benchmark's program ends with the counters the benchmark's own oracle expects, for every
member, group and occurrence, so a change that made the rule cheaper by breaking it would
not look like a saving."""

from __future__ import annotations

from decimal import Decimal

from bench.challenge_oracle import expected_challenges
from bench.oracle import expected_outcome
from bench.program import DEFAULT_PROGRAM, load_program
from bench.rule_cost import MemoryRows, measure
from bench.workload import Generator
from loyalty_progress.engine.challenges import Catalog, counter_values


def test_the_rule_alone_reaches_the_oracles_counters() -> None:
    program = load_program("program", [DEFAULT_PROGRAM], 5, seed=3)
    workload = Generator(3, 400).build(3000, 0.0)
    rows = MemoryRows()
    cost = measure(workload, program, 250, rows=rows)
    assert cost.events == workload.distinct
    assert cost.ledger_lines > 0

    catalog = Catalog(program.challenges)
    expectation = expected_challenges(workload, expected_outcome(workload), program.challenges)
    stored: dict[tuple[str, str, int, str, str], dict[int, Decimal]] = {}
    for by_key in rows.progress.values():
        for key, row in by_key.items():
            if (row.club, row.code) not in expectation.definitions:
                continue  # requires another challenge: left out of the oracle
            definition = catalog.get(row.club, row.code)
            assert definition is not None
            values = counter_values(definition, row.tallies.values())
            if nonzero := {t: v for t, v in values.items() if v}:
                stored[key] = nonzero
    wanted = {key: o.final for key, o in expectation.subjects.items() if o.final}
    assert len(wanted) > 100
    assert stored == wanted
