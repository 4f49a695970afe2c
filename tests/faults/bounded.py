"""Every wait in the fault tests is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`'s result, or TimeoutError after `seconds`."""
    return await asyncio.wait_for(awaitable, timeout=seconds)
