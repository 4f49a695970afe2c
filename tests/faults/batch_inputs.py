"""What a test that calls `commit_batch` itself hands it, as the pipeline would: decoded
entries and the time of the batch."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty_progress.contract.events import DATA_FIELD, BadInput, InputStream, decode_entry
from loyalty_progress.worker.batch import GoodEntry


def good_entry(stream: InputStream, entry_id: bytes, body: bytes) -> GoodEntry:
    """What the pipeline hands `commit_batch` for one decoded entry."""
    decoded = decode_entry(stream, {DATA_FIELD: body})
    assert not isinstance(decoded, BadInput), decoded
    return GoodEntry(entry_id.decode(), decoded, body)


def utc_now() -> datetime:
    return datetime.now(UTC)
