"""Versioned definitions in PostgreSQL: apply (all or nothing), list, load what is in force."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class StoredDefinition:
    kind: str
    club: str
    code: str
    version: int
    body: dict[str, Any]
    source: str
    applied_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    kind: str
    club: str
    code: str
    version: int
    changed: bool


_LATEST = text(
    """
    SELECT DISTINCT ON (kind, club, code) kind, club, code, version, body, checksum, source,
           applied_at
    FROM definitions ORDER BY kind, club, code, version DESC
    """
)


def checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


async def apply_definitions(
    conn: AsyncConnection, items: Sequence[tuple[str, str, str, dict[str, Any], str]]
) -> list[ApplyResult]:
    """Store (kind, club, code, body, source) items; unchanged bodies keep their version.
    Runs inside the caller's transaction, so a failure leaves everything as it was."""
    await conn.execute(text("LOCK TABLE definitions IN SHARE ROW EXCLUSIVE MODE"))
    latest = {(r.kind, r.club, r.code): r for r in await conn.execute(_LATEST)}
    results: list[ApplyResult] = []
    for kind, club, code, body, source in items:
        current = latest.get((kind, club, code))
        digest = checksum(body)
        if current is not None and current.checksum == digest:
            results.append(ApplyResult(kind, club, code, current.version, changed=False))
            continue
        version = 1 if current is None else current.version + 1
        await conn.execute(
            text(
                "INSERT INTO definitions (kind, club, code, version, body, checksum, source) "
                "VALUES (:kind, :club, :code, :version, CAST(:body AS jsonb), :checksum, :source)"
            ),
            {
                "kind": kind,
                "club": club,
                "code": code,
                "version": version,
                "body": msgspec.json.encode(body).decode(),
                "checksum": digest,
                "source": source,
            },
        )
        results.append(ApplyResult(kind, club, code, version, changed=True))
    if any(r.changed for r in results):
        await conn.execute(text("SELECT nextval('definitions_revision')"))
    return results


async def revision(conn: AsyncConnection) -> int:
    """Changes whenever any definition changes; cheap to poll."""
    row = (await conn.execute(text("SELECT last_value, is_called FROM definitions_revision"))).one()
    return int(row.last_value) if row.is_called else 0


async def latest_definitions(conn: AsyncConnection) -> list[StoredDefinition]:
    return [
        StoredDefinition(
            kind=r.kind,
            club=r.club,
            code=r.code,
            version=r.version,
            body=r.body,
            source=r.source,
            applied_at=r.applied_at,
        )
        for r in await conn.execute(_LATEST)
    ]
