"""Deterministic ids: the same business fact always yields the same id, on any replica."""

from __future__ import annotations

import uuid
from typing import Final

_NAMESPACE: Final = uuid.UUID("6f1c1f3e-5b0a-4d0e-9a53-6c6f79616c74")


def fact_id(kind: str, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join((kind, *parts))))
