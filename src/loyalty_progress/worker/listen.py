"""Binding the HTTP port before the server starts, so that a busy port is one clear
error (`PortInUse`) raised by `Worker.start`, not uvicorn's log line and a `SystemExit`
inside a background task."""

from __future__ import annotations

import errno
import socket


class PortInUse(OSError):
    """The configured HTTP address cannot be bound; the message names it and the fix."""


def bind_listening_socket(
    host: str, port: int, variable: str = "LOYALTY_HTTP_PORT"
) -> socket.socket:
    """A TCP socket bound to (host, port), as uvicorn would bind it (SO_REUSEADDR, IPv6
    for an IPv6 host); `variable` is the setting named in the error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"({exc.strerror})"
        raise PortInUse(
            exc.errno,
            f"cannot listen on {shown}: the address {why}; set {variable} to a free port "
            "(0 picks one)",
        ) from None
    return sock
