import uuid

from hypothesis import given
from hypothesis import strategies as st

from loyalty_progress.engine.ids import _NAMESPACE, fact_id


@given(st.text(), st.lists(st.text(), max_size=4))
def test_fact_id_is_uuid5_of_the_joined_parts(kind: str, parts: list[str]) -> None:
    expected = uuid.uuid5(_NAMESPACE, "\x1f".join((kind, *parts)))
    assert fact_id(kind, *parts) == str(expected)


def test_fact_id_is_stable_across_releases() -> None:
    # Ids already published must never change: consumers dedupe on them.
    assert (
        fact_id("receipt_approved", "infinity-mall", "r-1")
        == "807af6ac-4de6-55dc-b5e1-8ebf624d9448"
    )
