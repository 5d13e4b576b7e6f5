"""``netctl network …`` over the fake kernel: outputs, exit codes, and untouched state on refusal."""

from __future__ import annotations

import json

import pytest


def inspect(cli, name):
    return json.loads(cli.ok("network", "inspect", name))[0]


def test_create_prints_name_and_takes_the_first_default_pool(cli):
    assert cli.ok("network", "create", "demo") == "demo\n"
    net = inspect(cli, "demo")
    assert net["driver"] == "bridge"
    assert net["subnets"][0]["subnet"] == "172.17.0.0/16"
    assert net["subnets"][0]["gateway"] == "172.17.0.1"
    assert net["bridge"] == "br-" + net["id"][:12]
    link = cli.kernel().link_get(net["bridge"])
    assert link.kind == "bridge" and link.up and "172.17.0.1/16" in link.addresses
    assert link.owner == net["id"]


def test_pools_are_round_robin_and_persisted(cli):
    cli.ok("network", "create", "a")
    cli.ok("network", "create", "b")
    cli.ok("network", "rm", "a")
    cli.ok("network", "create", "c")
    assert inspect(cli, "b")["subnets"][0]["subnet"] == "172.18.0.0/16"
    assert inspect(cli, "c")["subnets"][0]["subnet"] == "172.19.0.0/16"


def test_rm_deletes_the_bridge(cli):
    cli.ok("network", "create", "demo")
    bridge = inspect(cli, "demo")["bridge"]
    assert cli.ok("network", "rm", "demo") == "demo\n"
    assert cli.kernel().link_get(bridge) is None
    assert cli("network", "exists", "demo").code == 3


@pytest.mark.parametrize("args,code", [
    (["network", "create", "bad/name"], 2),
    (["network", "create", "x", "--subnet", "10.0.0.1/24"], 2),
    (["network", "create", "x", "--subnet", "nonsense"], 2),
    (["network", "create", "x", "--gateway", "10.0.0.1"], 2),
    (["network", "create", "x", "--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1"], 2),
    (["network", "create", "x", "--subnet", "10.0.0.0/24", "--gateway", "10.0.0.0"], 2),
    (["network", "create", "x", "-o", "mtu=10"], 2),
    (["network", "create", "x", "-o", "bogus=1"], 2),
    (["network", "create", "x", "-d", "overlay"], 2),
    (["network", "create", "x", "--label", "=v"], 2),
    (["network", "create", "demo"], 4),
    (["network", "create", "x", "--subnet", "172.17.5.0/24"], 4),
    (["network", "create", "x", "-o", "bridge=" + "b" * 16], 2),
    (["network", "rm", "nosuch"], 3),
    (["network", "inspect", "nosuch"], 3),
    (["network", "ls", "-f", "bogus=1"], 2),
    (["network", "ls", "--format", "{nosuch}"], 2),
])
def test_refused_input_is_one_line_with_its_code_and_changes_nothing(cli, args, code):
    cli.ok("network", "create", "demo")
    before, kernel_before = cli.state_bytes(), cli.kernel_file.read_bytes()
    res = cli(*args)
    assert res.code == code, res.err
    assert res.err.startswith("netctl: ") and res.err.count("\n") == 1, res.err
    assert "Traceback" not in res.err
    assert cli.state_bytes() == before
    assert cli.kernel_file.read_bytes() == kernel_before


def test_ignore_makes_create_idempotent(cli):
    cli.ok("network", "create", "demo")
    before = cli.state_bytes()
    assert cli.ok("network", "create", "demo", "--ignore") == "demo\n"
    assert cli.state_bytes() == before


def test_overlap_error_names_the_network_in_the_way(cli):
    cli.ok("network", "create", "first", "--subnet", "10.9.0.0/16")
    res = cli("network", "create", "second", "--subnet", "10.9.8.0/24")
    assert res.code == 4 and "'first'" in res.err


def test_explicit_ipam_is_kept(cli):
    cli.ok("network", "create", "lab", "--subnet", "10.20.0.0/16", "--ip-range", "10.20.5.0/24",
           "--gateway", "10.20.5.254", "--aux-address", "router=10.20.0.9", "--label", "team=net",
           "-o", "com.docker.network.driver.mtu=1400")
    net = inspect(cli, "lab")
    assert net["subnets"] == [{"subnet": "10.20.0.0/16", "gateway": "10.20.5.254",
                               "ip_range": "10.20.5.0/24", "aux_addresses": {"router": "10.20.0.9"}}]
    assert net["labels"] == {"team": "net"} and net["options"] == {"mtu": "1400"}


def test_ipv6_without_subnet_gets_a_ula_64(cli):
    cli.ok("network", "create", "six", "--ipv6")
    cli.ok("network", "create", "six2", "--ipv6")
    v6 = [s["subnet"] for n in ("six", "six2") for s in inspect(cli, n)["subnets"] if ":" in s["subnet"]]
    assert len(v6) == 2 and v6[0] != v6[1]
    assert all(s.startswith("fd") and s.endswith("/64") for s in v6)
    assert v6[0].split(":")[:3] == v6[1].split(":")[:3]  # carved from one stored /48


def test_null_and_host_are_single_instance_without_ipam(cli):
    cli.ok("network", "create", "none", "-d", "null")
    assert inspect(cli, "none")["subnets"] == []
    assert cli("network", "create", "none2", "-d", "null").code == 4
    assert cli("network", "create", "h", "-d", "host", "--subnet", "10.0.0.0/24").code == 2
    cli.ok("network", "create", "h", "-d", "host")


def test_existing_bridge_is_adopted_and_survives_rm(cli):
    kernel = cli.kernel()
    kernel.bridge_create("mybr", mac="02:00:00:00:00:01", alias="someone-else")
    cli.ok("network", "create", "adopt", "-o", "bridge=mybr")
    assert inspect(cli, "adopt")["bridge_adopted"] is True
    cli.ok("network", "rm", "adopt")
    assert cli.kernel().link_get("mybr") is not None


def test_rm_keeps_going_and_exits_with_the_first_failure(cli):
    cli.ok("network", "create", "a")
    cli.ok("network", "create", "b")
    res = cli("network", "rm", "a", "nosuch", "b")
    assert res.code == 3 and res.out == "a\nb\n"
    assert cli("network", "rm", "-f", "nosuch").code == 0


def test_rm_refuses_a_network_with_endpoints_and_names_them(cli):
    cli.ok("network", "create", "demo")
    cli.ok("endpoint", "create", "demo", "ep1")
    res = cli("network", "rm", "demo")
    assert res.code == 4 and "ep1" in res.err


def test_ls_formats_and_filters(cli):
    cli.ok("network", "create", "alpha", "--label", "env=ci")
    cli.ok("network", "create", "beta")
    cli.ok("network", "create", "nul", "-d", "null")
    assert cli.ok("network", "ls", "-q") == "alpha\nbeta\nnul\n"
    assert cli.ok("network", "ls", "-q", "-f", "driver=bridge", "-f", "label=env=ci") == "alpha\n"
    assert cli.ok("network", "ls", "-q", "-f", "name=alpha", "-f", "name=nul") == "alpha\nnul\n"
    assert cli.ok("network", "ls", "--format", "{name} {driver}", "-f", "name=b*") == "beta bridge\n"
    rows = json.loads(cli.ok("network", "ls", "--format", "json"))
    assert [r["name"] for r in rows] == ["alpha", "beta", "nul"]
    table = cli.ok("network", "ls").splitlines()
    assert table[0].split() == ["NAME", "ID", "DRIVER", "SUBNETS", "ENDPOINTS"]


def test_id_prefix_names_a_network(cli):
    cli.ok("network", "create", "demo")
    net_id = inspect(cli, "demo")["id"]
    assert inspect(cli, net_id[:6])["name"] == "demo"
    assert cli("network", "exists", net_id).code == 0


def test_prune_removes_only_unused_networks(cli):
    cli.ok("network", "create", "used")
    cli.ok("network", "create", "idle")
    cli.ok("endpoint", "create", "used", "ep")
    assert cli.ok("network", "prune", "-f") == "idle\n"
    assert cli.ok("network", "ls", "-q") == "used\n"


def test_corrupt_state_is_refused_and_left_alone(cli):
    cli.state.write_bytes(b"schema = 1\n[[networks]\nbroken")
    res = cli("network", "create", "demo")
    assert res.code == 8 and res.err.count("\n") == 1
    assert cli.state.read_bytes() == b"schema = 1\n[[networks]\nbroken"
    cli.state.write_bytes(b"schema = 99\n")
    assert cli("network", "ls").code == 8
    assert cli.state.read_bytes() == b"schema = 99\n"
