"""Issue 8 §5: input that must be refused before anything changes (special-purpose subnets,
a duplicate MAC, an unbounded priority, names that would shadow an ID)."""

from __future__ import annotations

import json

import pytest

from netctl import lookup
from netctl.errors import Conflict
from netctl.model import Network, State

SPECIAL = ["127.0.0.0/24", "224.0.0.0/24", "169.254.0.0/16", "0.0.0.0/24", "255.255.255.0/24",
           "240.0.0.0/24", "0.0.0.0/0", "128.0.0.0/1", "fe80::/64", "::ffff:0:0/96",
           "::ffff:a00:0/120", "::/0", "ff02::/64", "::/64"]


@pytest.mark.parametrize("subnet", SPECIAL)
def test_special_purpose_subnets_exit_2_naming_the_subnet(cli, subnet):
    before = cli.state_bytes()
    res = cli("network", "create", "x", "--subnet", subnet)
    assert res.code == 2, res
    assert res.err.count("\n") == 1 and subnet in res.err
    assert cli.state_bytes() == before
    assert not any(link.kind == "bridge" for link in cli.kernel().links())


@pytest.mark.parametrize("subnet", ["100.64.0.0/24", "192.0.2.0/24", "10.9.0.0/16", "2001:db8::/64",
                                    "fd12:3456:789a::/64"])
def test_private_cgnat_ula_and_documentation_ranges_stay_allowed(cli, subnet):
    cli.ok("network", "create", "x", "--subnet", subnet)


def test_config_pool_in_loopback_is_refused_naming_the_file(cli):
    cli.config.write_text('default_pools = [{base = "127.0.0.0/8", size = 24}]\n')
    res = cli("network", "create", "x")
    assert res.code == 2 and "127.0.0.0/8" in res.err and str(cli.config) in res.err
    assert cli.state_bytes() == b""


def test_duplicate_mac_in_a_network_is_a_conflict(cli):
    cli.ok("network", "create", "n", "--subnet", "10.1.0.0/24")
    cli.ok("endpoint", "create", "n", "a", "--mac", "02:aa:bb:cc:dd:ee")
    before = cli.state_bytes()
    res = cli("endpoint", "create", "n", "b", "--mac", "02:AA:BB:CC:DD:EE")
    assert res.code == 4 and "02:aa:bb:cc:dd:ee" in res.err and "'a'" in res.err
    assert cli.state_bytes() == before


def test_derived_mac_taken_by_hand_is_not_handed_out_twice(cli):
    cli.ok("network", "create", "n", "--subnet", "10.1.0.0/24")
    cli.ok("endpoint", "create", "n", "a", "--mac", "02:42:0a:01:00:03")  # what 10.1.0.3 derives
    cli.ok("endpoint", "create", "n", "b")  # gets 10.1.0.3
    eps = json.loads(cli.ok("endpoint", "ls", "--format", "json"))
    assert eps[1]["ipv4"] == "10.1.0.3/24"
    assert len({e["mac"] for e in eps}) == 2


@pytest.mark.parametrize("priority,code", [(str(2**80), 2), (str(2**31), 2), (str(-(2**31) - 1), 2),
                                           (str(2**31 - 1), 0), (str(-(2**31)), 0)])
def test_priority_is_a_32_bit_integer(cli, priority, code):
    cli.ok("network", "create", "n", "--subnet", "10.1.0.0/24")
    cli.ok("sandbox", "create", "s")
    before = cli.state_bytes()
    res = cli("network", "connect", "n", "s", "--priority", priority)
    assert res.code == code, res
    if code:
        assert cli.state_bytes() == before and "priority" in res.err
    cli.ok("endpoint", "create", "n", "e")
    cli.ok("sandbox", "create", "t")
    assert cli("endpoint", "join", "e", "t", "--priority", priority).code == code


def test_a_name_that_shadows_another_networks_short_id_is_refused(cli):
    cli.ok("network", "create", "real", "--subnet", "10.1.0.0/24")
    real_id = json.loads(cli.ok("network", "inspect", "real"))[0]["id"]
    before = cli.state_bytes()
    for name in (real_id[:12], real_id, real_id[:4]):
        res = cli("network", "create", name, "--subnet", "10.2.0.0/24")
        assert res.code == 4 and "real" in res.err, res
    assert cli.state_bytes() == before
    assert json.loads(cli.ok("network", "inspect", real_id[:12]))[0]["name"] == "real"


def test_sandbox_and_endpoint_names_that_shadow_an_id_are_refused(cli):
    cli.ok("network", "create", "n", "--subnet", "10.1.0.0/24")
    cli.ok("sandbox", "create", "box")
    cli.ok("endpoint", "create", "n", "ep")
    box_id = json.loads(cli.ok("sandbox", "inspect", "box"))[0]["id"]
    ep_id = json.loads(cli.ok("endpoint", "inspect", "ep"))[0]["id"]
    assert cli("sandbox", "create", box_id[:12]).code == 4
    assert cli("endpoint", "create", "n", ep_id[:12]).code == 4


def test_full_id_wins_over_a_name_then_name_over_prefix():
    a, b = "ab" * 32, "cd" * 32
    state = State(networks=[Network(a, b, "bridge", "t"), Network("x", a, "bridge", "t")])
    assert lookup.network(state, a).name == "x"  # the exact ID, not the impostor named like it
    state = State(networks=[Network("impostor", b, "bridge", "t"), Network(a, a[::-1], "bridge", "t")])
    assert lookup.network(state, a).id == a[::-1]  # no ID equals it: the name


def test_fresh_ids_never_start_with_an_existing_hex_name(monkeypatch):
    ids = iter(["beef" + "0" * 60, "beef" + "1" * 60, "f00d" + "2" * 60])
    monkeypatch.setattr(lookup, "new_id", lambda: next(ids))
    nets = [Network("beef", "a" * 64, "bridge", "t")]
    assert lookup.fresh_id(nets).startswith("f00d")
    with pytest.raises(Conflict):
        lookup.check_new_name(nets, "aaaa", "network")
    lookup.check_new_name(nets, "aaa", "network")  # too short to be an ID prefix: just a name


def test_an_empty_driver_is_refused_not_taken_for_the_default(cli):
    """``--driver ''`` (an unset variable in a script) made a bridge network, exit 0."""
    res = cli("network", "create", "n1", "--driver", "")
    assert res.code == 2 and "unknown driver ''" in res.err, res
    assert cli.state_bytes() == b""
