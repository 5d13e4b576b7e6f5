"""Destroying at scale on the real kernel: a link is read with its own addresses only, and
a sandbox's veth pairs go with its namespace (one batch in the kernel) instead of one
RCU-synchronised delete each (issue 10: a 1,000-sandbox destroy took 74 s)."""

from __future__ import annotations

import os

import pytest

from netctl.drivers import bridge
from netctl.service import connect, networks, sandboxes
from netctl.service.context import Context
from netctl.service.endpoints import EndpointRequest
from netctl.store import Store


def test_link_get_decodes_only_that_links_addresses(nk, monkeypatch):
    """pyroute2 dumps every address of the namespace for ``addr("dump", index=...)``;
    with strict checking the kernel sends only the link's own."""
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

    for i in range(30):
        nk.veth_create(f"ra{i}", f"rb{i}", alias="test")
        nk.addr_add(f"ra{i}", f"10.66.{i}.1/24")
    decoded = []
    real = ifaddrmsg.decode
    monkeypatch.setattr(ifaddrmsg, "decode", lambda self, *a, **k: decoded.append(1) or real(self, *a, **k))
    link = nk.link_get("ra7")
    assert link is not None and link.addresses == ("10.66.7.1/24",)
    assert len(decoded) <= 2, f"{len(decoded)} address messages decoded for one link"
    assert len(nk.links()) == 61 and decoded  # the full dump still sees them all


@pytest.fixture
def ctx(tmp_path, nk):
    c = Context(Store(str(tmp_path / "state.toml"), 30.0))
    yield c
    c.close()


def _lab(ctx: Context, count: int) -> list[str]:
    networks.create(ctx, networks.NetworkRequest(name="rnet", subnets=["10.67.0.0/24"]))
    names = [f"r{i}" for i in range(count)]
    for name in names:
        sandboxes.create(ctx, sandboxes.SandboxRequest(name=name))
        connect.connect(ctx, "rnet", name, EndpointRequest(name=""))
    return [e.host_ifname for e in ctx.read().endpoints]


def test_sandbox_rm_deletes_no_veth_one_by_one(ctx, kern, monkeypatch):
    hosts = _lab(ctx, 3)
    deleted: list[str] = []
    real = ctx.kernel.link_delete
    spy = lambda name, *a, **k: deleted.append(name) or real(name, *a, **k)  # noqa: E731
    monkeypatch.setattr(ctx.kernel, "link_delete", spy)
    done, errs = sandboxes.remove(ctx, ["r0", "r1", "r2"])
    assert (done, errs) == (["r0", "r1", "r2"], [])
    assert deleted == []  # each pair went with its namespace
    assert [h for h in hosts if kern.link_get(h) is not None] == []  # gone when rm returns
    assert kern.netns_list() == []


def test_a_held_namespace_still_loses_its_veths(ctx, kern, monkeypatch):
    """A process holding the namespace keeps it (and the pair) alive after the unmount:
    after ``REAP_WAIT`` the host end is deleted explicitly, which takes the pair."""
    hosts = _lab(ctx, 1)
    monkeypatch.setattr(bridge, "REAP_WAIT", 0.2)
    fd = os.open("/run/netns/r0", os.O_RDONLY)
    try:
        assert sandboxes.remove(ctx, ["r0"]) == (["r0"], [])
        assert kern.link_get(hosts[0]) is None
    finally:
        os.close(fd)
