"""PostgreSQL: schema, migrations, set-based batch load/save, outbox, read queries."""
