"""What netctl's firewall adds to ``network create``, ``network connect`` and ``network rm``:
the same service calls with ``firewall = true`` (the default) and ``firewall = false``, as
medians in milliseconds, plus the raw cost of the nft processes behind them.

Run as root: ``python3 bench/firewall.py [-n 20] [--networks 10]``.  It first moves itself
into its own network and mount namespaces (kernel_steps.isolate), so the nftables tables it
makes live and die there.  ``--networks`` bridge networks exist during every measurement
(the chains are re-rendered whole: their cost grows with the state's networks).  Numbers
vary with the machine and its load; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import suppress

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from connect import private_etc  # noqa: E402
from kernel_steps import isolate, release, timed  # noqa: E402

from netctl.kernel import netns as ns  # noqa: E402


def measure(tmp: str, on: bool, n: int, networks: int) -> dict[str, float]:
    from netctl.service.connect import connect, disconnect
    from netctl.service.context import Context
    from netctl.service.endpoints import EndpointRequest
    from netctl.service.networks import NetworkRequest
    from netctl.service.networks import create as create_network
    from netctl.service.networks import remove as remove_networks
    from netctl.service.sandboxes import SandboxRequest
    from netctl.service.sandboxes import create as create_sandbox
    from netctl.service.sandboxes import remove as remove_sandboxes
    from netctl.store import Store

    config = os.path.join(tmp, f"netctl-{on}.toml")
    with open(config, "w") as f:
        f.write(f"firewall = {'true' if on else 'false'}\n"  # room for --networks > 31:
                'default_pools = [{ base = "10.128.0.0/9", size = 24 }]\n')
    state = os.path.join(tmp, f"state-{on}.toml")
    ctx = Context(Store(state, 30.0), config_path=config)
    from netctl.config import load

    cfg = load(config)
    base = [f"base{i}" for i in range(networks)]
    for name in base:
        create_network(ctx, NetworkRequest(name=name), config=cfg)
    sbs = [f"sb{i}" for i in range(n)]
    for name in sbs:
        create_sandbox(ctx, SandboxRequest(name=name))
    out = {}
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    env = {**os.environ, "NETCTL_STATE": state, "NETCTL_CONFIG": config, "PYTHONPATH": root}
    cli = [sys.executable, "-m", "netctl", "network"]
    try:
        out["CLI: network create (wall)"] = timed(
            n, lambda i: subprocess.run([*cli, "create", f"c{i}"], env=env, check=True, capture_output=True),
            after=lambda i: remove_networks(ctx, [f"c{i}"]))
        def make(i: int) -> None:
            create_network(ctx, NetworkRequest(name=f"x{i}"), config=cfg)

        out["network create"] = timed(n, make, after=lambda i: remove_networks(ctx, [f"x{i}"]))
        out["network rm"] = timed(n, lambda i: remove_networks(ctx, [f"x{i}"]), before=make)
        net = base[0]
        out["network connect (no -p)"] = timed(
            n, lambda i: connect(ctx, net, sbs[i], EndpointRequest(name="")),
            after=lambda i: disconnect(ctx, net, sbs[i]))
        if on:
            out["network connect -p 80"] = timed(
                n, lambda i: connect(ctx, net, sbs[i], EndpointRequest(name="", publish=["80"])),
                after=lambda i: disconnect(ctx, net, sbs[i]))
            connect(ctx, net, sbs[0], EndpointRequest(name="", publish=["80"]))
            out["network disconnect (with -p)"] = timed(
                n, lambda i: disconnect(ctx, net, sbs[i]),
                before=lambda i: i and connect(ctx, net, sbs[i], EndpointRequest(name="", publish=["80"])))
    finally:
        remove_sandboxes(ctx, sbs, force=True)
        remove_networks(ctx, base, force=True)
        with suppress(Exception):
            ctx.kernel.close()
    return out


def nft_costs(n: int) -> dict[str, float]:
    batch = ("add table inet nftbench\nadd chain inet nftbench c { type filter hook forward "
             "priority filter; policy accept; }\ndelete chain inet nftbench c\ntable inet nftbench "
             "{\n\tchain c {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\t"
             "ct state established,related accept\n\t}\n}\n")

    def run(args, stdin=None):
        subprocess.run(["nft", *args], input=stdin, text=True, check=True, capture_output=True)

    from netctl.firewall import libnft

    lib = libnft.load()
    out = {"nft -f - (one batch, subprocess)": timed(n, lambda i: run(["-f", "-"], batch))}
    if lib is not None:
        out["the same batch via libnftables"] = timed(n, lambda i: libnft.run(lib, batch))
    out |= {
           "nft list table (subprocess)": timed(n, lambda i: run(["list", "table", "inet", "nftbench"]))}
    run(["delete", "table", "inet", "nftbench"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="samples per measurement")
    parser.add_argument("--networks", type=int, default=10,
                        help="bridge networks that exist meanwhile (at least 1)")
    args = parser.parse_args()
    args.networks = max(args.networks, 1)
    if os.geteuid() != 0:
        sys.exit("firewall.py: needs root (it works in its own namespaces)")
    if shutil.which("nft") is None:
        sys.exit("firewall.py: needs nft (apt install nftables)")
    made = isolate()
    made_etc, mounts = private_etc()
    ns.set_up("lo")
    tmp = tempfile.mkdtemp(prefix="netctl-bench-")
    try:
        off = measure(tmp, False, args.n, args.networks)
        on = measure(tmp, True, args.n, args.networks)
        raw = nft_costs(args.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"{args.n} samples, {args.networks} other bridge networks; service calls, medians:")
    print(f"  {'':<28}{'firewall off':>14}{'firewall on':>14}{'added':>10}")
    for label in on:
        if label in off:
            added = on[label] - off[label]
            print(f"  {label:<28}{off[label]:>11.1f} ms{on[label]:>11.1f} ms{added:>7.1f} ms")
        else:
            print(f"  {label:<28}{'':>14}{on[label]:>11.1f} ms")
    for label, ms in raw.items():
        print(f"  {label:<40}{ms:>7.1f} ms")
    release(made + made_etc, mounts)


if __name__ == "__main__":
    main()
