"""What each kernel step of netctl costs on the real kernel, as medians in milliseconds.

Run as root: ``python3 bench/kernel_steps.py [-n 40]``. The script first moves itself into its
own network and mount namespaces (tmpfs over /run/netns), so nothing it makes is visible to,
or left on, the machine. Numbers vary with the machine; tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from netctl.kernel import netns as ns  # noqa: E402  (ctypes only: no pyroute2 yet)


def isolate() -> list[str]:
    ns.unshare(ns.CLONE_NEWNET | ns.CLONE_NEWNS)
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    made = []
    if not os.path.isdir("/run/netns"):
        os.mkdir("/run/netns")
        made.append("/run/netns")
    ns.mount("bench", "/run/netns", "tmpfs")
    return made


def release(made: list[str], mounts: list[str]) -> None:
    """Undo ``isolate`` (and any tmpfs mounted after it): unmount newest first, then remove
    the directories that had to be made."""
    for path in [*reversed(mounts), "/run/netns"]:
        with suppress(OSError):
            ns.umount(path)
    for path in made:
        with suppress(OSError):
            os.rmdir(path)


def timed(n: int, step: Callable[[int], object], before=None, after=None) -> float:
    samples = []
    for i in range(n):
        if before:
            before(i)
        t = time.perf_counter()
        step(i)
        samples.append(time.perf_counter() - t)
        if after:
            after(i)
    return statistics.median(samples) * 1000


def import_cost() -> float:
    code = "import time; t = time.perf_counter(); import pyroute2; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
        for _ in range(5)
    ]
    return statistics.median(runs) * 1000


def macvlan_rows(k, n: int, drop) -> list[tuple[str, float]]:
    """The macvlan driver's endpoint (issue 11): born in the sandbox against made in the host
    and moved in (what a kernel without IFLA_NET_NS_FD on RTM_NEWLINK would need), on a
    veth standing in for the physical parent; and the link-type probe of network create."""
    k.veth_create("bench-up0", "bench-up1", alias="bench")
    k.link_set_up("bench-up0")

    def born(i: int) -> None:
        k.sublink_create("macvlan", "eth0", parent="bench-up0", alias="netctl:mv", mode="bridge",
                         mac=f"02:42:0a:64:{i // 256:02x}:{i % 256:02x}", netns=f"v{i}")

    def moved(i: int) -> None:
        k.sublink_create("macvlan", f"mvl-w{i}", parent="bench-up0", alias="netctl:mv", mode="bridge",
                         mac=f"02:42:0a:65:{i // 256:02x}:{i % 256:02x}")
        k.link_move(f"mvl-w{i}", src=None, dst=f"w{i}", new_name="eth0")

    rows = [
        ("macvlan born in netns (sublink_create, marked)",
         timed(n, born, before=lambda i: k.netns_create(f"v{i}"), after=drop("v"))),
        ("  macvlan made in the host, then link_move with rename",
         timed(n, moved, before=lambda i: k.netns_create(f"w{i}"), after=drop("w"))),
        ("link_kinds probe (4 link types, throwaway netns)",
         timed(n, lambda i: k.link_kinds(("macvlan", "ipvlan", "vlan", "dummy")))),
    ]
    k.link_delete("bench-up0")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="samples per step")
    n = parser.parse_args().n
    if os.geteuid() != 0:
        sys.exit("kernel_steps.py: needs root (it works in its own namespaces)")
    made = isolate()
    rows = [("import pyroute2 (fresh interpreter)", import_cost())]

    import pyroute2.netns

    from netctl.kernel.netlink import NetlinkKernel

    k = NetlinkKernel()
    k.link_set_up("lo")
    k.bridge_create("br-bench", mac="02:42:0a:63:00:01", alias="netctl:bench")
    k.addr_add("br-bench", "10.99.0.1/16")
    k.link_set_up("br-bench")

    def drop(prefix: str) -> Callable[[int], None]:
        return lambda i: k.netns_delete(f"{prefix}{i}")

    rows.append(
        (
            "netns_create (fork-free: unshare + bind mount, lo up, sysctls)",
            timed(n, lambda i: k.netns_create(f"a{i}"), after=drop("a")),
        )
    )
    rows.append(
        (
            "  pyroute2.netns.create (forks a helper)",
            timed(n, lambda i: pyroute2.netns.create(f"c{i}"), after=drop("c")),
        )
    )
    rows.append(("netns_delete", timed(n, drop("d"), before=lambda i: k.netns_create(f"d{i}"))))

    # Deleting a namespace frees its links asynchronously: every stage uses its own names.
    def veth(i: int, kernel=k, tag: str = "e") -> None:
        kernel.veth_create(
            f"veth-{tag}{i}",
            "eth0",
            alias="netctl:e",
            mtu=1500,
            master="br-bench",
            peer_netns=f"{tag}{i}",
            peer_mac="02:42:0a:63:00:02",
        )

    rows.append(
        (
            "veth_create, peer born in netns (master, aliases)",
            timed(n, veth, before=lambda i: k.netns_create(f"e{i}"), after=drop("e")),
        )
    )

    def veth_fresh(i: int) -> None:
        with NetlinkKernel() as fresh:
            veth(i, fresh, "f")

    rows.append(
        (
            "  same with a fresh NetlinkKernel (opens host + netns sockets)",
            timed(n, veth_fresh, before=lambda i: k.netns_create(f"f{i}"), after=drop("f")),
        )
    )

    def mk_pair(i: int) -> None:
        k.netns_create(f"m{i}")
        k.veth_create(f"veth-m{i}", f"tmp-m{i}", alias="netctl:m")

    rows.append(
        (
            "link_move host -> netns with rename",
            timed(
                n,
                lambda i: k.link_move(f"tmp-m{i}", src=None, dst=f"m{i}", new_name="eth0"),
                before=mk_pair,
                after=drop("m"),
            ),
        )
    )
    rows.append(
        (
            "link_delete (veth)",
            timed(
                n,
                lambda i: k.link_delete(f"veth-x{i}"),
                before=lambda i: k.veth_create(f"veth-x{i}", f"vx{i}", alias="x"),
            ),
        )
    )

    def attach(i: int, kernel=k, tag: str = "s") -> None:
        name = f"{tag}{i}"
        kernel.netns_create(name)
        kernel.veth_create(
            f"veth-{name}",
            "eth0",
            alias="netctl:s",
            mtu=1500,
            master="br-bench",
            peer_netns=name,
            peer_mac=f"02:42:0a:63:{i // 256:02x}:{i % 256:02x}",
        )
        kernel.addr_add("eth0", f"10.99.{i // 250 + 1}.{i % 250 + 2}/16", netns=name)
        kernel.link_set_up("eth0", netns=name)
        kernel.route_add("default", gateway="10.99.0.1", netns=name)

    rows.append(
        ("full attach (netns + veth-in-netns + addr + up + default route)", timed(n, attach, after=drop("s")))
    )

    def attach_fresh(i: int) -> None:
        with NetlinkKernel() as fresh:
            attach(i, fresh, "t")

    rows.append(
        ("  same with a fresh NetlinkKernel per attach (CLI-like)", timed(n, attach_fresh, after=drop("t")))
    )
    rows += macvlan_rows(k, n, drop)
    k.link_delete("br-bench")
    k.close()
    width = max(len(label) for label, _ in rows)
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, {n} samples per step, medians:")
    for label, ms in rows:
        print(f"  {label:<{width}}  {ms:7.2f} ms")
    ns.umount("/run/netns")
    for path in made:
        with suppress(OSError):
            os.rmdir(path)


if __name__ == "__main__":
    main()
