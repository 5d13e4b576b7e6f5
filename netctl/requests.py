"""What a caller asks of ``network create`` and ``sandbox create``: plain data, no I/O.

The CLI, apply's topology files and the CNI plugin's network configuration all build
these, so they live in the pure core where the CNI config parser (netctl/cni/netconf.py)
can produce one without importing the service layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NetworkRequest:
    name: str
    driver: str | None = None  # None: the config's default_driver (bridge)
    subnets: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)
    ip_ranges: list[str] = field(default_factory=list)
    aux_addresses: list[str] = field(default_factory=list)
    ipv6: bool = False
    internal: bool = False
    labels: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class SandboxRequest:
    name: str
    hostname: str | None = None
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # k=v (apply records its project here)
