"""Finding a running worker's servers: the URLs when set, else the embedded servers that
`loyalty-progress run` recorded in `<data dir>/ports.json`, trusted only if they answer."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty_progress.config import Settings
from loyalty_progress.local_services import ServicesNotFound, locate


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _record(data_dir: Path, postgres: int, redis: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "ports.json").write_text(json.dumps({"postgres": postgres, "redis": redis}))


def test_urls_from_the_environment_win(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://db/x", redis_url="redis://r:1/0", data_dir=tmp_path
    )
    assert locate(settings, database=True) is settings
    only_redis = Settings(redis_url="redis://r:1/0", data_dir=tmp_path)
    assert locate(only_redis, database=False) is only_redis


def test_one_url_without_the_other_is_refused_when_both_are_needed(tmp_path: Path) -> None:
    with pytest.raises(ServicesNotFound, match="LOYALTY_DATABASE_URL is not set"):
        locate(Settings(redis_url="redis://r:1/0", data_dir=tmp_path), database=True)
    with pytest.raises(ServicesNotFound, match="LOYALTY_REDIS_URL is not set"):
        locate(Settings(database_url="postgresql://db/x", data_dir=tmp_path), database=False)


def test_without_urls_and_without_embedded_servers_it_says_to_start_the_worker(
    tmp_path: Path,
) -> None:
    with pytest.raises(ServicesNotFound, match="loyalty-progress run") as failure:
        locate(Settings(data_dir=tmp_path / "never-used"), database=True)
    assert "no ports.json" in str(failure.value)


def test_recorded_ports_nobody_answers_on_mean_the_servers_are_stopped(tmp_path: Path) -> None:
    with _listening() as postgres:
        redis = _closed_port()
        _record(tmp_path, postgres, redis)
        with pytest.raises(ServicesNotFound, match="not running") as failure:
            locate(Settings(data_dir=tmp_path), database=True)
    message = str(failure.value)
    assert f"redis on 127.0.0.1:{redis}" in message
    assert "postgres on" not in message
    assert "loyalty-progress run" in message


def test_running_embedded_servers_give_their_urls(tmp_path: Path) -> None:
    with _listening() as postgres, _listening() as redis:
        _record(tmp_path, postgres, redis)
        located = locate(Settings(data_dir=tmp_path, stream_prefix="p"), database=True)
    assert located.database_url == f"postgresql://postgres@127.0.0.1:{postgres}/postgres"
    assert located.redis_url == f"redis://127.0.0.1:{redis}/0"
    assert located.stream_prefix == "p"


def test_a_damaged_ports_file_is_reported(tmp_path: Path) -> None:
    tmp_path.joinpath("ports.json").write_text('{"postgres": 5432}')
    with pytest.raises(ServicesNotFound, match="does not name both ports"):
        locate(Settings(data_dir=tmp_path), database=True)
