"""``-p/--publish`` on ``network connect`` and ``endpoint create``: deciding the mappings.

The syntax was checked before the lock (firewall/ports.py); here, under it, each mapping is
checked against every port the state's endpoints publish (exit 4 naming the holder) and
against the host's listening sockets (exit 4), and a missing host port is picked.  The
rules follow from the state once the endpoint is joined (firewall/sync.py).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import Conflict, InvalidInput
from ..firewall import ports
from ..model import Endpoint, Network, State
from .context import Context


def parse(specs: list[str]) -> list[ports.Port]:
    return [p for spec in specs for p in ports.parse(spec)]


def _held(state: State) -> dict[ports.Port, str]:
    out = {}
    for ep in state.endpoints:
        net = state.network_by_id(ep.network)
        for text in ep.ports:
            out[ports.load(text)] = f"endpoint {ep.name!r} (network {net.name!r})"
    return out


def plan(ctx: Context, state: State, net: Network, ep: Endpoint, specs: list[str]) -> None:
    """Decide ``ep.ports`` from the ``-p`` values; refuse what cannot be published."""
    if not specs:
        return
    from ..firewall import hostports  # with the firewall's nft layer: only for -p (hot path)
    from ..firewall import sync as firewall

    if net.driver != "bridge" or net.internal:
        kind = "an internal" if net.internal else f"a {net.driver}"
        raise InvalidInput(f"--publish: network {net.name!r} is {kind} network; ports are "
                           "published on bridge networks that are not internal")
    if not firewall.of(ctx).on:
        raise InvalidInput("--publish needs netctl's firewall (firewall = false in netctl.toml)")
    wanted, held = parse(specs), _held(state)
    for ip in sorted({p.host_ip for p in wanted if p.host_ip != ports.ANY}):
        if not hostports.local(ip):
            raise InvalidInput(f"--publish: {ip} is not an address of this host; its "
                               "traffic would never reach the port")
    ports.check_free(wanted, held)
    taken = {p.host_port for p in held} | {p.host_port for p in wanted}  # not picked twice
    chosen = []
    for port in wanted:
        if port.host_port == 0:
            port = replace(port, host_port=hostports.pick(port, taken))
        elif hostports.bound(port):
            raise Conflict(f"port {port.host_ip}:{port.host_port}/{port.proto} is in use on the "
                           "host (a listening socket)")
        taken.add(port.host_port)
        chosen.append(port)
    ep.ports = [str(p) for p in chosen]


def sync_if(ctx: Context, state: State, ep: Endpoint, tx) -> None:
    """Re-apply the firewall when ``ep`` publishes ports (a plain endpoint never runs nft)."""
    if ep.ports:
        from ..firewall import sync as firewall

        firewall.sync(ctx, state, tx)
