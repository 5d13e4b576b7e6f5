"""One scenario, two kernels: FakeKernel must answer exactly as the real kernel does.

Every step records "ok" or the errno name it failed with; checkpoints record what links,
addresses and routes each namespace has. The real kernel's log is the reference.
"""

from __future__ import annotations

import errno

from support.fakekernel import FakeKernel

from netctl import errors

BR_MAC, A_MAC = "02:42:0a:4d:00:01", "02:42:0a:4d:00:02"
HOST_LINKS = ("br-ct", "veth-ct", "back-ct")


def snapshot(k) -> dict:
    """What netctl relies on, minus what only the real kernel has (IPv6 link-locals, random
    MACs, foreign links of the session)."""
    view = {}
    for ns in [None, *(n for n in k.netns_list() if n.startswith("ct-"))]:
        links = {
            x.name: (
                x.kind,
                x.mtu,
                x.up,
                x.master,
                x.alias,
                tuple(sorted(a for a in x.addresses if not a.startswith("fe80:"))),
                x.mac if x.mac in (BR_MAC, A_MAC) else "-",
            )
            for x in k.links(ns)
            if ns is not None or x.name.startswith(HOST_LINKS)
        }
        routes = sorted(
            (r.dst, r.gateway or "", r.dev or "", r.scope, r.family)
            for r in k.routes(ns)
            if not r.dst.startswith("fe80:") and (ns is not None or r.dev in links)
        )
        view[ns or "host"] = {"links": links, "routes": routes}
    return view


def scenario(k) -> list[tuple[str, object]]:
    log: list[tuple[str, object]] = []

    def step(label, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
            log.append((label, "ok"))
        except errors.KernelError as exc:
            log.append((label, errno.errorcode.get(exc.errno or 0, exc.errno)))

    def snap(label):
        log.append((label, snapshot(k)))

    def answer(label, fn, *args):
        try:
            log.append((label, fn(*args)))
        except errors.KernelError as exc:
            log.append((label, errno.errorcode.get(exc.errno or 0, exc.errno)))

    step("ns a", k.netns_create, "ct-a")
    step("ns a again", k.netns_create, "ct-a")
    step("ns b", k.netns_create, "ct-b")
    step("ns c, marked", k.netns_create, "ct-c", alias="netctl:sb-c")
    answer("mark of c", k.netns_mark, "ct-c")
    answer("mark of a (none)", k.netns_mark, "ct-a")
    answer("mark of a missing namespace", k.netns_mark, "ct-none")
    answer("c is not borrowed", k.netns_borrowed, "ct-c")
    step("bridge", k.bridge_create, "br-ct", mac=BR_MAC, alias="netctl:net", mtu=1450)
    step("bridge again", k.bridge_create, "br-ct", mac=BR_MAC, alias="netctl:net")
    step("bridge addr", k.addr_add, "br-ct", "10.77.0.1/24")
    step("bridge up", k.link_set_up, "br-ct")
    snap("bridge made")
    step(
        "veth a",
        k.veth_create,
        "veth-cta",
        "eth0",
        alias="netctl:ep-a",
        mtu=1500,
        master="br-ct",
        peer_netns="ct-a",
        peer_mac=A_MAC,
    )
    step("veth, no master", k.veth_create, "veth-ctx", "eth9", alias="x", master="br-none")
    step("veth, no netns", k.veth_create, "veth-ctx", "eth9", alias="x", peer_netns="ct-none")
    step("veth, master not a bridge", k.veth_create, "veth-ctx", "eth9", alias="x", master="veth-cta")
    step("veth, peer name taken", k.veth_create, "veth-ctx", "eth0", alias="x", peer_netns="ct-a")
    step("veth, name too long", k.veth_create, "veth-ctx", "eth-0123456789ab", alias="x")
    step("bridge, bad mac", k.bridge_create, "br-ctx", mac="02:zz:00:00:00:01", alias="x")
    snap("veth a made")
    step("a: v6 while disabled", k.addr_add, "eth0", "fd77::2/64", netns="ct-a")
    step("a: gateway while down", k.route_add, "default", gateway="10.77.0.1", netns="ct-a")
    step("a: addr", k.addr_add, "eth0", "10.77.0.2/24", netns="ct-a")
    step("a: addr again", k.addr_add, "eth0", "10.77.0.2/24", netns="ct-a")
    step("a: dev route while down", k.route_add, "10.78.0.0/24", dev="eth0", netns="ct-a")
    step("a: up", k.link_set_up, "eth0", netns="ct-a")
    step("a: default", k.route_add, "default", gateway="10.77.0.1", netns="ct-a")
    step("a: default again", k.route_add, "default", gateway="10.77.0.1", netns="ct-a")
    step("a: dev route", k.route_add, "10.78.0.0/24", dev="eth0", netns="ct-a")
    step("a: unreachable", k.route_add, "10.79.0.0/24", gateway="10.80.0.1", netns="ct-a")
    step("a: v6 on", k.ipv6_enable, "eth0", "ct-a")
    step("a: v6 addr", k.addr_add, "eth0", "fd77::2/64", netns="ct-a", nodad=True)
    step("a: v6 default", k.route_add, "default", gateway="fd77::1", netns="ct-a")
    snap("a attached")
    step("veth b", k.veth_create, "veth-ctb", "tmp-ctb", alias="netctl:ep-b", mtu=1500)
    step("b: move in", k.link_move, "tmp-ctb", src=None, dst="ct-b", new_name="eth0")
    step("b: move onto a taken name", k.link_move, "veth-ctb", src=None, dst="ct-a", new_name="eth0")
    step("b: move lo", k.link_move, "lo", src="ct-b", dst=None, new_name="lo-ct")
    step("b: addr", k.addr_add, "eth0", "10.77.0.3/24", netns="ct-b")
    step("b: up", k.link_set_up, "eth0", netns="ct-b")
    step("b: port", k.link_set_master, "veth-ctb", "br-ct")
    step("b: port up", k.link_set_up, "veth-ctb")
    step("b: hairpin", k.link_set_hairpin, "veth-ctb", True)
    snap("b attached")
    step("small port", k.veth_create, "veth-ctc", "vp-ctc", alias="netctl:ep-c", mtu=1400, master="br-ct")
    snap("small port joined")
    step("small port leaves", k.link_set_master, "veth-ctc", None)
    snap("small port left")
    step("del small port", k.link_delete, "vp-ctc")
    step("b: move out", k.link_move, "eth0", src="ct-b", dst=None, new_name="back-ctb")
    snap("b moved back")
    step("a: down", k.link_set_up, "eth0", False, "ct-a")
    snap("a down")
    step("a: del addr", k.addr_del, "eth0", "10.77.0.2/24", "ct-a")
    step("a: del addr again", k.addr_del, "eth0", "10.77.0.2/24", "ct-a")
    step("a: del default", k.route_del, "default", gateway="10.77.0.1", netns="ct-a")
    step("del veth a", k.link_delete, "veth-cta")
    step("del veth a again", k.link_delete, "veth-cta")
    step("del veth b", k.link_delete, "back-ctb")
    step("b: port goes", k.link_delete, "veth-ctb")
    snap("no ports left")
    step("del bridge", k.link_delete, "br-ct")
    for ns in ("ct-a", "ct-b", "ct-b", "ct-c"):
        step(f"del {ns}", k.netns_delete, ns)
    snap("torn down")
    return log


def test_fake_kernel_answers_like_the_real_one(nk):
    real = scenario(nk)
    fake = scenario(FakeKernel())
    assert [label for label, _ in fake] == [label for label, _ in real]
    for (label, want), (_, got) in zip(real, fake, strict=True):
        assert got == want, f"step {label!r}: fake {got!r} != real {want!r}"
