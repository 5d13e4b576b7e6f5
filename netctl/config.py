"""The optional config file, ``/etc/netctl/netctl.toml`` (``--config`` / ``NETCTL_CONFIG``).

It holds host-wide defaults an administrator sets once: the address pools new networks are
carved from, ranges netctl must never use (a VPN, a lab LAN), the MTU and driver a bare
``network create`` gets.  Only ``network create`` and ``status`` read it, so ``--help``, ``ls``
and ``inspect`` stay as fast as before.  A missing file means the built-in defaults; a file
that is wrong in any way is refused with exit 2, naming the key, because silently ignoring a
typo in ``exclude`` would hand out exactly the range the admin meant to protect.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from . import validate
from .errors import InvalidInput, PermissionDenied

DEFAULT_PATH = "/etc/netctl/netctl.toml"
KEYS = ("default_pools", "exclude", "default_mtu", "default_driver", "firewall")
MAX_SIZE = 30  # a /31 or /32 has no room for a gateway and an endpoint
MAX_BYTES = 1 << 20  # a real config is a few hundred bytes; more is the wrong file
MAX_SPLIT = 16  # one pool entry yields at most 2**16 subnets (keeps exhaustion searches short)

IPNetwork = IPv4Network | IPv6Network


class Pools(Sequence):
    """The subnets of ``[{base, size}, …]`` in order, computed on demand (never materialised:
    10.0.0.0/8 split into /24s is 65536 subnets, and choose_pool usually needs the first)."""

    def __init__(self, entries: list[tuple[IPv4Network, int]]):
        self.entries = entries
        self._counts = [2 ** (size - base.prefixlen) for base, size in entries]

    def __len__(self) -> int:
        return sum(self._counts)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        for (base, size), count in zip(self.entries, self._counts, strict=True):
            if 0 <= index < count:
                return IPv4Network((int(base.network_address) + (index << (32 - size)), size))
            index -= count
        raise IndexError("pool index out of range")


@dataclass(frozen=True)
class Config:
    path: str = DEFAULT_PATH
    found: bool = False
    pools: Pools | None = None  # None: ipam.DEFAULT_POOLS (libnetwork's 31)
    exclude: tuple[IPNetwork, ...] = field(default_factory=tuple)
    default_mtu: int | None = None
    default_driver: str = "bridge"
    firewall: bool = True  # false: netctl makes no nftables rules and sets no sysctls


def load(path: str | None = None) -> Config:
    """Read and check the file; missing (or ``path == ""``) means built-in defaults."""
    path = DEFAULT_PATH if path is None else path
    if not path:
        return Config(path="")
    text = _read(path)
    return Config(path=path) if text is None else parse(text, path)


def _read(path: str) -> bytes | None:
    """The file's bytes, None when it is missing.  Opened non-blocking and checked with fstat:
    a FIFO must not hang ``network create`` or ``status``, a device (``/dev/zero``) must not be
    read without end; ``/dev/null`` is the documented "no config" and reads as empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise PermissionDenied(f"{path}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open config file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3):
            return b""
        if stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{path}: is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"{path}: not a regular file")
        text = b""
        while len(text) <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - len(text))):
            text += chunk
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read config file: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(text) > MAX_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_BYTES // 1024} KiB; not a netctl config file")
    return text


def parse(text: bytes, path: str = DEFAULT_PATH) -> Config:
    def bad(key: str, why: str) -> InvalidInput:
        return InvalidInput(f"{path}: {key}: {why}")

    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot parse ({exc})") from None
    except RecursionError:
        raise InvalidInput(f"{path}: cannot parse (nested too deeply)") from None
    for key in data:
        if key not in KEYS:
            raise bad(key, f"unknown key (known: {', '.join(KEYS)})")
    values: dict[str, Any] = {}
    if "default_pools" in data:
        values["pools"] = Pools(_pools(data["default_pools"], bad))
    if "exclude" in data:
        values["exclude"] = tuple(_exclude(data["exclude"], bad))
    if "default_mtu" in data:
        mtu = data["default_mtu"]
        if type(mtu) is not int:
            raise bad("default_mtu", f"expected an integer, got {mtu!r}")
        values["default_mtu"] = _checked("default_mtu", validate.mtu, mtu, bad)
    if "default_driver" in data:
        drv = data["default_driver"]
        if not isinstance(drv, str):
            raise bad("default_driver", f"expected a string, got {drv!r}")
        values["default_driver"] = _checked("default_driver", validate.driver, drv, bad)
    if "firewall" in data:
        if not isinstance(data["firewall"], bool):
            raise bad("firewall", f"expected true or false, got {data['firewall']!r}")
        values["firewall"] = data["firewall"]
    return Config(path=path, found=True, **values)


def _checked(key: str, check, value, bad):
    """Run a validate.* rule and re-raise its message under the key's name."""
    try:
        return check(value)
    except InvalidInput as exc:
        raise bad(key, str(exc)) from None


def _pools(items: Any, bad) -> list[tuple[IPv4Network, int]]:
    if not isinstance(items, list):
        raise bad("default_pools", "expected an array of {base, size} tables")
    if not items:
        raise bad("default_pools", "empty; remove the key to use the built-in pools")
    out = []
    for i, item in enumerate(items):
        key = f"default_pools[{i}]"
        if not isinstance(item, dict):
            raise bad(key, f"expected a table {{base = \"CIDR\", size = N}}, got {item!r}")
        for extra in item.keys() - {"base", "size"}:
            raise bad(f"{key}.{extra}", "unknown key (known: base, size)")
        for need in ("base", "size"):
            if need not in item:
                raise bad(f"{key}.{need}", "missing")
        base_text, size = item["base"], item["size"]
        if not isinstance(base_text, str):
            raise bad(f"{key}.base", f"expected a string, got {base_text!r}")
        base = ip_network(_checked(f"{key}.base", lambda v: validate.usable(validate.cidr(v), "pool"),
                                   base_text, bad))
        if base.version != 4:
            raise bad(f"{key}.base", "only IPv4 pools (IPv6 subnets come from a ULA /48)")
        if type(size) is not int:
            raise bad(f"{key}.size", f"expected an integer, got {size!r}")
        if not base.prefixlen <= size <= MAX_SIZE:
            raise bad(f"{key}.size", f"{size} must be between the base's /{base.prefixlen} and {MAX_SIZE}")
        if size - base.prefixlen > MAX_SPLIT:
            raise bad(f"{key}.size", f"/{size} splits {base} into {2 ** (size - base.prefixlen)} "
                                     f"subnets; at most {2 ** MAX_SPLIT} per pool")
        out.append((base, size))
    return out


def _exclude(items: Any, bad) -> list[IPNetwork]:
    if not isinstance(items, list):
        raise bad("exclude", "expected an array of CIDR strings")
    out = []
    for i, item in enumerate(items):
        key = f"exclude[{i}]"
        if not isinstance(item, str):
            raise bad(key, f"expected a string, got {item!r}")
        text = item if "/" in item else f"{item}/{32 if ':' not in item else 128}"
        out.append(ip_network(_checked(key, lambda v: validate.cidr(v, "range"), text, bad)))
    return out
