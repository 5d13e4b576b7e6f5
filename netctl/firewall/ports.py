"""Published ports: docker's ``-p`` syntax parsed and checked, pure (no I/O).

``[HOST_IP:][HOST_PORT[-END]:]PORT[-END][/tcp|udp|sctp]``.  A range maps port by port (both
ranges the same length); without HOST_PORT the host port is picked later (``0`` here).  An
endpoint stores each mapping as ``HOST_IP:HOST_PORT:PORT/PROTO`` (``0.0.0.0``: every address
of the host), the host port already chosen, so the rules and ``sandbox port`` read it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from ..errors import Conflict, InvalidInput

PROTOCOLS = ("tcp", "udp", "sctp")
ANY = "0.0.0.0"


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int  # 0: pick a free one
    port: int
    proto: str

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}:{self.port}/{self.proto}"

    def overlaps(self, other: Port) -> bool:
        return (self.proto == other.proto and self.host_port == other.host_port
                and (self.host_ip == other.host_ip or ANY in (self.host_ip, other.host_ip)))

    @property
    def shown(self) -> str:
        """As ``docker port`` prints it: ``80/tcp -> 0.0.0.0:8080``."""
        return f"{self.port}/{self.proto} -> {self.host_ip}:{self.host_port}"


def load(text: str) -> Port:
    """A stored mapping back (the state holds what ``str`` wrote).  Anything else (a state
    file edited by hand) is ValueError: the store refuses it (exit 8) before nft sees it."""
    rest, slash, proto = text.partition("/")
    parts = rest.split(":")
    numbers = parts[1:] if len(parts) == 3 else []
    if (not slash or proto not in PROTOCOLS or len(numbers) != 2
            or not all(n.isascii() and n.isdigit() and int(n) <= 65535 for n in numbers)
            or int(numbers[1]) == 0):  # a host port 0 is one not picked yet
        raise ValueError(f"invalid published port {text!r}")
    return Port(str(IPv4Address(parts[0])), int(numbers[0]), int(numbers[1]), proto)


def _number(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"invalid port {text!r} in --publish {spec!r}: expected 1-65535")
    return int(text)


def _range(text: str, spec: str) -> list[int]:
    first, dash, last = text.partition("-")
    start = _number(first, spec)
    end = _number(last, spec) if dash else start
    if end < start:
        raise InvalidInput(f"invalid port range {text!r} in --publish {spec!r}")
    return list(range(start, end + 1))


def parse(spec: str) -> list[Port]:
    """One ``-p`` value as its mappings; bad syntax is exit 2 naming the value."""
    body, slash, proto = spec.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOCOLS:
        raise InvalidInput(f"invalid protocol {proto!r} in --publish {spec!r} (tcp, udp or sctp)")
    parts = body.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise InvalidInput(f"invalid --publish {spec!r}: expected [HOST_IP:][HOST_PORT:]PORT[/PROTO]")
    host_ip = parts[0] if len(parts) == 3 else ""
    host = parts[-2] if len(parts) >= 2 else ""
    try:
        host_ip = str(IPv4Address(host_ip)) if host_ip else ANY
    except ValueError:
        raise InvalidInput(f"invalid host IP {host_ip!r} in --publish {spec!r} (IPv4 only)") from None
    inside = _range(parts[-1], spec)
    outside = _range(host, spec) if host else [0] * len(inside)
    if len(outside) != len(inside):
        raise InvalidInput(f"invalid --publish {spec!r}: the host and sandbox ranges differ in length")
    return [Port(host_ip, h, p, proto) for h, p in zip(outside, inside, strict=True)]


def check_free(wanted: list[Port], held: dict[Port, str]) -> None:
    """Exit 4 when a mapping's HOST_IP:HOST_PORT/PROTO is published already (``held``: each
    published mapping and who holds it) or twice in this request.  Mappings are looked up by
    protocol and host port, so a range of thousands of ports is not compared pair by pair."""
    slots: dict[tuple[str, int], list[tuple[Port, str]]] = {}
    for other, holder in held.items():
        slots.setdefault((other.proto, other.host_port), []).append((other, holder))
    for port in wanted:
        if port.host_port == 0:
            continue
        slot = slots.setdefault((port.proto, port.host_port), [])
        for other, holder in slot:
            if port.overlaps(other):
                raise Conflict(f"port {port.host_ip}:{port.host_port}/{port.proto} is already "
                               f"published by {holder}")
        slot.append((port, "this command"))
