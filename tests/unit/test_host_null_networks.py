"""null and host networks (issue 8 §6), over the fake kernel: a sandbox on a host network
uses the host's namespace, and null/host exclude every other network (exit 4)."""

from __future__ import annotations

import json

import pytest


def _kernel(cli) -> dict:
    """The fake kernel's namespaces and links (not its ifindex counter, which only goes up)."""
    data = json.loads(cli.kernel_file.read_text())
    del data["next_index"]
    return data


@pytest.fixture
def nets(cli):
    cli.ok("network", "create", "h", "-d", "host")
    cli.ok("network", "create", "none", "-d", "null")
    cli.ok("network", "create", "b", "--subnet", "10.5.0.0/24")
    cli.ok("network", "create", "c", "--subnet", "10.6.0.0/24")
    for sb in ("s", "t", "u"):
        cli.ok("sandbox", "create", sb)
    return cli


def test_a_sandbox_on_a_host_network_is_bound_to_the_host_namespace(nets):
    nets.ok("network", "connect", "h", "s")
    k = nets.kernel()
    assert k.netns_is_host("s") and k.link_get("lo", "s").alias is None  # the host's lo, unmarked
    assert nets("check").code == 0
    nets.ok("network", "disconnect", "h", "s")
    k = nets.kernel()
    assert not k.netns_is_host("s") and k.link_get("lo", "s").owner is not None
    assert nets("check").code == 0


@pytest.mark.parametrize(("first", "then"), [("h", "b"), ("none", "b"), ("b", "h"), ("b", "none"),
                                             ("h", "none"), ("none", "h")])
def test_null_and_host_exclude_every_other_network(nets, first, then):
    nets.ok("network", "connect", first, "t")
    before = (nets.state_bytes(), _kernel(nets))
    res = nets("network", "connect", then, "t")
    assert res.code == 4 and "cannot" in res.err
    nets.ok("endpoint", "create", then, "e")
    res = nets("endpoint", "join", "e", "t")
    assert res.code == 4
    nets.ok("endpoint", "rm", "e")
    assert (nets.state_bytes(), _kernel(nets)) == before


def test_rm_of_a_host_mode_sandbox_only_unbinds_the_path(nets):
    nets.ok("network", "connect", "h", "u")
    nets.ok("sandbox", "rm", "u")
    k = nets.kernel()
    assert not k.netns_exists("u") and [x.name for x in k.links()][:1] == ["lo"]


def test_join_and_leave_of_a_host_endpoint_swap_the_namespace_too(nets):
    nets.ok("endpoint", "create", "h", "e")
    nets.ok("endpoint", "join", "e", "s")
    assert nets.kernel().netns_is_host("s") and nets("check").code == 0
    nets.ok("endpoint", "leave", "e", "s")
    assert not nets.kernel().netns_is_host("s") and nets("check").code == 0
