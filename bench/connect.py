"""What one ``netctl network connect`` costs: the CLI process, the service call inside it, and
the interpreter/import floor under both, as medians in milliseconds.

Run as root: ``python3 bench/connect.py [-n 30]``. Like kernel_steps.py it first moves itself
into its own network and mount namespaces (tmpfs over /run/netns and /etc/netns, the state in a
temporary directory), so nothing it makes is visible to, or left on, the machine. The CLI is the
console script installed next to this interpreter (not a pyenv shim, which adds its own
start-up). Numbers vary with the machine and its load; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kernel_steps import isolate, release  # noqa: E402  (tmpfs over /run/netns, in new namespaces)

from netctl.kernel import netns as ns  # noqa: E402  (ctypes only)

SCRUB = ("NETCTL_FAULT", "NETCTL_TRACE", "NETCTL_FORMAT", "NETCTL_DEBUG", "NETCTL_STATE", "NETCTL_CONFIG")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"connect.py: {' '.join(argv)} failed: {res.stderr.strip()}")
    return took


def over(n: int, step: Callable[[int], float]) -> float:
    return median_ms([step(i) for i in range(n)])


def private_etc() -> tuple[list[str], list[str]]:
    """tmpfs over /etc/netns, and over /etc/netctl if the machine has one (its config stays
    out); returns (directories made, mounts)."""
    made, mounts = [], []
    if not os.path.isdir("/etc/netns"):
        os.mkdir("/etc/netns")
        made.append("/etc/netns")
    for path in ("/etc/netns", "/etc/netctl"):
        if os.path.isdir(path):
            ns.mount("bench", path, "tmpfs")
            mounts.append(path)
    return made, mounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="samples per measurement")
    n = parser.parse_args().n
    if os.geteuid() != 0:
        sys.exit("connect.py: needs root (it works in its own namespaces)")
    script = os.path.join(os.path.dirname(sys.executable), "netctl")
    if not os.access(script, os.X_OK):
        sys.exit(f"connect.py: no console script at {script} (pip install -e .)")
    made = isolate()
    made_etc, mounts = private_etc()
    ns.set_up("lo")
    tmp = tempfile.mkdtemp(prefix="netctl-bench-")
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env["NETCTL_STATE"] = os.path.join(tmp, "state.toml")
    os.environ.update(NETCTL_STATE=env["NETCTL_STATE"])
    for key in SCRUB[:-1]:
        os.environ.pop(key, None)

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

    ctx = Context(Store(env["NETCTL_STATE"], 30.0))
    names = [f"sb{i}" for i in range(n)]
    rows = []
    try:
        create_network(ctx, NetworkRequest(name="bench", subnets=["10.123.0.0/16"]))
        for name in names:
            create_sandbox(ctx, SandboxRequest(name=name))
        cli = [script, "network"]
        rows.append(("netctl network connect (CLI process, wall)",
                     over(n, lambda i: wall([*cli, "connect", "bench", names[i]], env))))
        rows.append(("netctl network disconnect (CLI process, wall)",
                     over(n, lambda i: wall([*cli, "disconnect", "bench", names[i]], env))))

        def in_process(i: int, fresh: bool) -> float:
            c = Context(Store(env["NETCTL_STATE"], 30.0)) if fresh else ctx
            start = time.perf_counter()
            connect(c, "bench", names[i], EndpointRequest(name=""))
            took = time.perf_counter() - start
            disconnect(c, "bench", names[i])
            return took

        in_process(0, False)  # warm: imports, netlink sockets for the host and sb0
        rows.append(("service connect(), warm process (kernel sockets cached)",
                     over(n, lambda i: in_process(i, False))))
        rows.append(("service connect(), fresh Context (opens its netlink sockets)",
                     over(n, lambda i: in_process(i, True))))
        rows.append(("python3 -c pass (cold)", over(n, lambda i: wall([sys.executable, "-c", "pass"], env))))
        rows.append(('python3 -c "import click" (cold)',
                     over(n, lambda i: wall([sys.executable, "-c", "import click"], env))))
        rows.append(('python3 -c "import pyroute2" (cold)',
                     over(n, lambda i: wall([sys.executable, "-c", "import pyroute2"], env))))
        rows.append(("netctl network ls (CLI process, wall)", over(n, lambda i: wall([*cli, "ls"], env))))
    finally:
        remove_sandboxes(ctx, names, force=True)
        remove_networks(ctx, ["bench"], force=True)
        with suppress(Exception):
            ctx.kernel.close()
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(label) for label, _ in rows)
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"{n} samples each, medians:")
    for label, ms in rows:
        print(f"  {label:<{width}}  {ms:7.1f} ms")
    release(made + made_etc, mounts)


if __name__ == "__main__":
    main()
