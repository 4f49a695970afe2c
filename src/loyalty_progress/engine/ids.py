"""Deterministic ids: the same business fact always yields the same id, on any replica."""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

_NAMESPACE: Final = uuid.UUID("6f1c1f3e-5b0a-4d0e-9a53-6c6f79616c74")
_NAMESPACE_BYTES: Final = _NAMESPACE.bytes


def fact_id(kind: str, *parts: str) -> str:
    """`str(uuid.uuid5(namespace, kind + parts))`, computed without building `UUID` objects:
    every notification and reward needs one, and `uuid.UUID` is slow pure Python."""
    name = "\x1f".join((kind, *parts)).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
