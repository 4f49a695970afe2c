"""Lock a batch's rows by key, creating a placeholder for each key that has no row yet.

Every rule serialises concurrent batches (lanes, replicas) on per-key rows it locks first:
challenge members, challenge groups, attendance memberships. One statement does it:

- rows the statement's snapshot sees are locked with `FOR UPDATE`: a lock, not a new row
  version (the `ON CONFLICT DO UPDATE` no-op this replaced wrote a whole new version of
  every locked row, state included, each batch);
- the other keys are upserted: a new key gets its placeholder row; a key whose row another
  transaction committed after the snapshot is taken by `ON CONFLICT DO UPDATE`, which
  locks and returns that latest version. So two replicas can never both treat a key as
  new, which a `SELECT ... FOR UPDATE` alone could not promise.

Keys are locked in sorted order, the ones the snapshot sees first; a key appears in one of
the two passes only, and a key the second pass finds was committed after the snapshot, so
two batches cannot each hold what the other waits for.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import TextClause, text

from loyalty_progress.store.jsonrows import rows_source


def lock_or_place(table: str, keys: Sequence[str], columns: Sequence[str]) -> TextClause:
    """The statement for `table`, keys in JSON parameter `:keys` (text values, in the order
    of `keys`): every row's keys, then `columns` (SQL expressions over the table's other
    columns, each with its name)."""
    key_list = ", ".join(keys)
    out = ", ".join([*(f"t.{k}" for k in keys), *columns])
    return text(
        f"""
        WITH k AS MATERIALIZED (
            SELECT * FROM {rows_source("keys", [(name, "text") for name in keys])} AS s
        ), seen AS (
            SELECT {out}
            FROM {table} AS t JOIN k ON {" AND ".join(f"t.{n} = k.{n}" for n in keys)}
            ORDER BY {", ".join(f"t.{n}" for n in keys)}
            FOR UPDATE OF t
        ), placed AS (
            INSERT INTO {table} AS t ({key_list})
            SELECT {", ".join(f"k.{n}" for n in keys)} FROM k
            WHERE NOT EXISTS (
                SELECT 1 FROM seen WHERE {" AND ".join(f"seen.{n} = k.{n}" for n in keys)}
            )
            ORDER BY {key_list}
            ON CONFLICT ({key_list}) DO UPDATE SET {keys[0]} = EXCLUDED.{keys[0]}
            RETURNING {out}
        )
        SELECT * FROM seen UNION ALL SELECT * FROM placed
        """
    )
