"""The firewall over the fake kernel: the rules netctl derives from the state (pure), when a
command changes them (create/rm only), firewall = false, a host without nft, check/repair."""

from __future__ import annotations

import json

from support.fakenft import apply_script

from netctl.firewall import rules
from netctl.model import Network, State, Subnet


def _net(name, subnets, **kw) -> Network:
    opts = kw.pop("options", {})
    return Network(name=name, id=name * 12, driver=kw.pop("driver", "bridge"), created="",
                   subnets=[Subnet(s) for s in subnets], bridge=f"br-{name}", options=opts, **kw)


SID = "0123456789abcdef"


def _render(state: State) -> dict[str, str]:
    return {f: "\n\n".join(b) for f, b in rules.render(state, SID).items()}


def test_empty_state_wants_no_chains():
    assert rules.render(State(), SID) == {"inet": [], "bridge": []}
    null = _net("n", [], driver="null")
    null.bridge = None
    assert rules.render(State(networks=[null]), SID) == {"inet": [], "bridge": []}


def test_masquerade_by_default_snat_with_host_ip_and_off_with_masquerade_false():
    a = _net("a", ["10.1.0.0/24"])
    b = _net("b", ["10.2.0.0/24"], options={"host_ip": "192.0.2.7"})
    c = _net("c", ["10.3.0.0/24"], options={"masquerade": "false"})
    text = _render(State(networks=[a, b, c]))["inet"]
    assert '\t\tip saddr 10.1.0.0/24 oifname != "br-a" masquerade\n' in text
    assert '\t\tip saddr 10.2.0.0/24 oifname != "br-b" snat ip to 192.0.2.7\n' in text
    assert "10.3.0.0/24" not in text


def test_ipv6_ula_is_masqueraded_a_global_subnet_is_routed_unchanged():
    ula = _net("u", ["10.1.0.0/24", "fd00:1::/64"], ipv6=True)
    glob = _net("g", ["10.2.0.0/24", "2001:db8::/64"], ipv6=True)
    text = _render(State(networks=[ula, glob]))["inet"]
    assert 'ip6 saddr fd00:1::/64 oifname != "br-u" masquerade' in text
    assert "2001:db8" not in text
    assert rules.forwarding(State(networks=[ula])) == ["net.ipv4.ip_forward",
                                                        "net.ipv6.conf.all.forwarding"]


def test_isolation_between_networks_and_internal_cut_off_both_ways():
    a, b = _net("a", ["10.1.0.0/24"]), _net("b", ["10.2.0.0/24"])
    i = _net("i", ["10.3.0.0/24"], internal=True)
    text = _render(State(networks=[a, b, i]))["inet"]
    forward = text.split("chain isolate-")[0]
    # internal first (replies too), then replies of allowed connections, then isolation
    assert forward.index('iifname "br-i" oifname != "br-i" drop') < forward.index("ct state")
    assert forward.index('oifname "br-i" iifname != "br-i" drop') < forward.index("ct state")
    assert 'iifname "br-a" oifname != "br-a" jump isolate-0123456789abcdef' in forward
    assert '\t\toifname "br-a" drop\n\t\toifname "br-b" drop\n\t}' in text
    assert "10.3.0.0/24" not in text  # internal: no NAT
    assert rules.forwarding(State(networks=[i])) == []


def test_icc_false_drops_bridged_traffic_in_the_bridge_family_only_then():
    a = _net("a", ["10.1.0.0/24", "fd00:1::/64"], options={"icc": "false"})
    out = _render(State(networks=[a]))
    assert "ip saddr 10.1.0.0/24 ip daddr 10.1.0.0/24 drop" in out["bridge"]
    assert "ip6 saddr fd00:1::/64 ip6 daddr fd00:1::/64 drop" in out["bridge"]
    a.options = {}
    assert _render(State(networks=[a]))["bridge"] == ""


def test_script_replaces_only_this_states_chains_and_undo_restores_the_listing():
    a = _net("a", ["10.1.0.0/24"], options={"icc": "false"})
    new = rules.render(State(networks=[a]), SID)
    script = rules.script("inet", SID, "", new["inet"])
    assert script.startswith("add table inet netctl\nadd chain inet netctl forward-0123456789abcdef "
                             "{ type filter hook forward priority filter; policy accept; }\n")
    assert "delete chain inet netctl forward-0123456789abcdef\ndelete chain inet netctl isolate-" in script
    after = apply_script({}, script)
    assert rules.ours(after["inet"], SID) == new["inet"]
    assert rules.script("inet", SID, after["inet"], new["inet"]) == ""
    # another state's chain in the same table is kept, and keeps the table alive
    other = "\tchain forward-ffffffffffffffff {\n\t\ttype filter hook forward priority filter; " \
            "policy accept;\n\t}"
    shared = apply_script(after, "table inet netctl {\n" + other + "\n}\n")
    gone = apply_script(shared, rules.script("inet", SID, shared["inet"], []))
    assert gone["inet"] == "table inet netctl {\n" + other + "\n}\n"
    assert rules.script("inet", SID, after["inet"], []) == "delete table inet netctl\n"
    back = apply_script(gone, rules.restore_script("inet", SID, shared["inet"]))
    assert rules.ours(back["inet"], SID) == new["inet"] and other in back["inet"]
    assert rules.restore_script("inet", SID, "") == "delete table inet netctl\n"


def _fw(cli) -> dict:
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    return json.loads(path.read_text()) if path.exists() else {}


def _tables(cli) -> dict:
    return _fw(cli).get("tables", {})


def test_create_and_rm_change_the_tables_connect_does_not(cli, monkeypatch):
    cli.ok("network", "create", "a")
    net = json.loads(cli.ok("network", "inspect", "a", "--format", "json"))[0]
    assert f'oifname != "{net["bridge"]}" masquerade' in _tables(cli)["inet"]
    assert _fw(cli)["sysctl"] == {"net.ipv4.ip_forward": "1"}
    from support.fakenft import FakeNft

    def boom(*_a, **_k):
        raise AssertionError("connect ran nft")

    with monkeypatch.context() as m:
        m.setattr(FakeNft, "apply", boom)
        m.setattr(FakeNft, "table", boom)
        cli.ok("sandbox", "create", "s")
        cli.ok("network", "connect", "a", "s")
        cli.ok("network", "disconnect", "a", "s")
    cli.ok("network", "rm", "a")
    assert _tables(cli) == {}
    assert _fw(cli)["sysctl"] == {"net.ipv4.ip_forward": "1"}  # never turned off


def test_status_shows_firewall_and_what_netctl_turned_on(cli):
    cli.ok("network", "create", "a")
    facts = json.loads(cli.ok("status", "--format", "json"))["firewall"]
    assert facts == {"enabled": True, "nft_version": "fake", "tables_match": True, "error": None,
                     "sysctls_set": ["net.ipv4.ip_forward"]}
    assert "firewall on, nft fake, table inet netctl matches the state; sysctls netctl turned " \
           "on: net.ipv4.ip_forward=1" in cli.ok("status")


def test_firewall_false_makes_no_rules_and_sets_no_sysctl(cli):
    cli.config.write_text("firewall = false\n")
    cli.ok("network", "create", "a")
    cli.ok("network", "rm", "a")
    assert _fw(cli) == {}
    assert "firewall off" in cli.ok("status")
    cli.config.write_text('firewall = "no"\n')
    res = cli("network", "create", "b")
    assert res.code == 2 and "firewall: expected true or false" in res.err


def test_without_nft_a_bridge_network_is_refused_null_and_host_work(cli):
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    path.write_text('{"missing": true}')
    before = cli.state_bytes()
    res = cli("network", "create", "a")
    assert res.code == 1
    assert res.err.strip().splitlines() == [
        "netctl: nftables is needed for this network's NAT and isolation rules: install it "
        "(Debian: apt install nftables), or set firewall = false in netctl.toml"]
    assert cli.state_bytes() == before
    assert [link.name for link in cli.kernel().links()] == ["lo"]
    cli.ok("network", "create", "-d", "null", "none")
    cli.ok("network", "create", "-d", "host", "host")
    cli.config.write_text("firewall = false\n")
    cli.ok("network", "create", "a")


def test_check_reports_a_missing_table_and_repair_rebuilds_it(cli):
    cli.ok("network", "create", "a")
    want = _tables(cli)
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    data = _fw(cli)
    data["tables"] = {}
    path.write_text(json.dumps(data))
    res = cli("check")
    assert res.code == 9 and "drift: firewall: table inet netctl: chains missing" in res.out
    assert "repaired: firewall: table inet netctl: chains missing" in cli.ok("check", "--repair")
    assert _tables(cli) == want
    data = _fw(cli)
    data["tables"]["inet"] = want["inet"].replace("masquerade", "accept")
    path.write_text(json.dumps(data))
    assert "table inet netctl: chains differ from the state" in cli("check").out
    cli.ok("restore")
    assert _tables(cli) == want
    cli.ok("check")


def test_check_warns_about_a_forward_chain_with_policy_drop_elsewhere(cli):
    cli.ok("network", "create", "a")
    data = _fw(cli)
    data["foreign_chains"] = [{"family": "ip", "table": "filter", "name": "FORWARD",
                               "hook": "forward", "policy": "drop"}]
    cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json").write_text(json.dumps(data))
    res = cli("check")
    assert res.code == 0
    assert "netctl: warning: table ip filter chain FORWARD drops forwarded traffic by policy" in res.err


def test_check_warns_about_a_drop_chain_in_a_foreign_table_named_netctl(cli):
    """`table ip netctl` is not netctl's (its tables are inet and bridge): its drop counts."""
    cli.ok("network", "create", "a")
    data = _fw(cli)
    data["foreign_chains"] = [{"family": "ip", "table": "netctl", "name": "fw",
                               "hook": "forward", "policy": "drop"}]
    cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json").write_text(json.dumps(data))
    res = cli("check")
    assert res.code == 0
    assert "netctl: warning: table ip netctl chain fw drops forwarded traffic by policy" in res.err


def _links(cli) -> list:
    return sorted((link.name, link.alias, link.addresses, link.up) for link in cli.kernel().links())


def test_a_fault_at_the_firewall_step_changes_nothing(cli, monkeypatch):
    cli.ok("network", "create", "a")
    before = (cli.state_bytes(), _fw(cli), _links(cli))
    for args in (("network", "create", "b"), ("network", "rm", "a")):
        for mode in ("", ":after"):
            monkeypatch.setenv("NETCTL_FAULT", "firewall" + mode)
            res = cli(*args)
            assert res.code == 1 and "injected fault at step 'firewall'" in res.err
            assert (cli.state_bytes(), _fw(cli), _links(cli)) == before


def test_forwarding_turned_off_behind_netctls_back_is_drift_and_repaired(cli):
    cli.ok("network", "create", "a")
    path = cli.kernel_file.with_name(cli.kernel_file.name + ".nft.json")
    data = _fw(cli)
    data["sysctl"]["net.ipv4.ip_forward"] = "0"
    path.write_text(json.dumps(data))
    res = cli("check")
    assert res.code == 9 and "net.ipv4.ip_forward is off" in res.out
    cli.ok("check", "--repair")
    assert _fw(cli)["sysctl"]["net.ipv4.ip_forward"] == "1"
