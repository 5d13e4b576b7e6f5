"""The host's own sockets, for published ports: is a port bound, which port is free.

A port a program on the host listens on cannot be published over it (the DNAT would steal
its traffic): binding a socket to it tells, without any privilege beyond what netctl has.
A free port is what the kernel hands out for port 0 and no endpoint holds yet.
"""

from __future__ import annotations

import errno
import socket

from ..errors import Exhausted
from .ports import Port

KINDS = {"tcp": (socket.SOCK_STREAM, socket.IPPROTO_TCP), "udp": (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
         "sctp": (socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))}


def _bind(port: Port, number: int) -> int | None:
    """Bind (host_ip, number) for the protocol; the port bound, None when it is taken,
    -1 when the protocol has no sockets here (no sctp module): then it cannot be told."""
    kind, proto = KINDS[port.proto]
    try:
        sock = socket.socket(socket.AF_INET, kind, proto)
    except OSError:
        return -1
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no holder
        try:
            sock.bind((port.host_ip, number))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return None
            if exc.errno == errno.EADDRNOTAVAIL:
                return -1  # not an address of this host: the DNAT still works for routed traffic
            raise
        return sock.getsockname()[1]


def local(host_ip: str) -> bool:
    """Is ``host_ip`` an address of this host?  The DNAT rules only see traffic whose
    destination is local (``fib daddr type local``), so a mapping on any other address
    would never match: binding a socket to it tells (EADDRNOTAVAIL when it is not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host_ip, 0))
        except OSError as exc:
            return exc.errno != errno.EADDRNOTAVAIL
    return True


def bound(port: Port) -> bool:
    return _bind(port, port.host_port) is None


def pick(port: Port, taken: set[int]) -> int:
    """A free host port for ``port``: the kernel's choice for port 0, skipping those the
    state's endpoints hold; for a protocol without sockets here, the first unheld one from
    49152.  None left: exit 5."""
    for _ in range(64):
        number = _bind(port, 0)
        if number is None or number == -1:
            break
        if number not in taken:
            return number
    for number in range(49152, 65536):
        if number not in taken and _bind(port, number) is not None:
            return number
    raise Exhausted(f"no free host port for {port.port}/{port.proto}")
