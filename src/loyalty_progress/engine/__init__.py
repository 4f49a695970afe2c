"""Pure domain logic: no I/O, no asyncio, no SQL. State + events + now -> new state + effects."""
