"""Where the PostgreSQL and Redis of a running worker are, for commands that talk to them
from the outside (`demo`, `deadletter`): the URLs from the environment when set, else
the embedded servers that `loyalty-progress run` started without URLs. Those record
their ports in `<LOYALTY_DATA_DIR>/ports.json`; the file outlives the servers, so a port
is only trusted once something answers on it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from loyalty_progress.config import Settings
from loyalty_progress.embedded import HOST, EmbeddedServices

START_HINT = "start the worker first (`loyalty-progress run`)"


class ServicesNotFound(RuntimeError):
    """No usable URLs: the message says what is missing and what to do."""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _recorded_ports(data_dir: Path) -> dict[str, int]:
    path = data_dir / "ports.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ServicesNotFound(
            "LOYALTY_DATABASE_URL and LOYALTY_REDIS_URL are not set and no embedded servers "
            f"have run in {data_dir} (no ports.json): {START_HINT}, or set the URLs"
        ) from None
    except (OSError, ValueError) as exc:
        raise ServicesNotFound(f"cannot read {path}: {exc}") from None
    ports = {k: v for k, v in raw.items() if isinstance(v, int)} if isinstance(raw, dict) else {}
    if not {"postgres", "redis"} <= ports.keys():
        raise ServicesNotFound(f"{path} does not name both ports: {raw!r}")
    return ports


def embedded_settings(settings: Settings) -> Settings:
    """`settings` with the URLs of the running embedded servers of its data dir."""
    data_dir = settings.data_dir.expanduser().resolve()
    ports = _recorded_ports(data_dir)
    silent = [name for name, port in sorted(ports.items()) if not _answers(port)]
    if silent:
        detail = ", ".join(f"{name} on {HOST}:{ports[name]}" for name in silent)
        raise ServicesNotFound(
            f"the embedded servers of {data_dir} are not running (nothing answers: {detail}): "
            f"{START_HINT}"
        )
    services = EmbeddedServices(
        data_dir, postgres_port=ports["postgres"], redis_port=ports["redis"]
    )
    return settings.with_urls(services.database_url, services.redis_url)


def locate(settings: Settings, *, database: bool) -> Settings:
    """Settings with the Redis URL (and the PostgreSQL URL when `database`) filled in."""
    have_redis = settings.redis_url is not None
    have_database = settings.database_url is not None
    if have_redis and (have_database or not database):
        return settings
    if have_redis or have_database:
        missing = "LOYALTY_REDIS_URL" if not have_redis else "LOYALTY_DATABASE_URL"
        raise ServicesNotFound(
            f"{missing} is not set: set both URLs, or neither to use the embedded servers"
        )
    return embedded_settings(settings)
