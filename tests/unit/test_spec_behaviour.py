"""Places where netctl follows libnetwork-spec.md to the letter (issue 8 §6), over the fake
kernel: each test names the spec section it checks."""

from __future__ import annotations

import json
import tomllib

import tomli_w

from netctl.model import State


def _sandbox(cli, name: str) -> dict:
    return json.loads(cli.ok("sandbox", "inspect", name))[0]


def _ifnames(cli, name: str) -> list[str]:
    return sorted(e["ifname"] for e in _sandbox(cli, name)["endpoints"])


def test_spec_7_2_the_ifname_counter_is_per_sandbox_and_per_prefix(cli):
    """§7.2: "the counter is kept per sandbox and per prefix": eth0 then net0, not net1."""
    cli.ok("network", "create", "a", "--subnet", "10.1.0.0/24")
    cli.ok("network", "create", "b", "--subnet", "10.2.0.0/24", "-o", "iface_prefix=net")
    cli.ok("network", "create", "c", "--subnet", "10.3.0.0/24")
    cli.ok("sandbox", "create", "s")
    cli.ok("network", "connect", "a", "s")
    cli.ok("network", "connect", "b", "s")
    assert _ifnames(cli, "s") == ["eth0", "net0"]
    cli.ok("network", "disconnect", "b", "s")
    cli.ok("network", "connect", "b", "s")  # each prefix's counter still only goes up
    cli.ok("network", "connect", "c", "s")
    assert _ifnames(cli, "s") == ["eth0", "eth1", "net1"]


def test_spec_7_2_a_state_file_with_the_old_single_counter_still_never_reuses_a_name(cli):
    """Before per-prefix counters, ``next_ifindex`` counted every prefix: a sandbox that had
    handed out eth0 and net1 starts each prefix at 2, so neither name comes back."""
    cli.ok("network", "create", "a", "--subnet", "10.1.0.0/24")
    cli.ok("network", "create", "b", "--subnet", "10.2.0.0/24", "-o", "iface_prefix=net")
    cli.ok("sandbox", "create", "s")
    doc = tomllib.loads(cli.state.read_text())
    del doc["sandboxes"][0]["ifindexes"]  # what an older netctl wrote
    doc["sandboxes"][0]["next_ifindex"] = 2
    cli.state.write_text(tomli_w.dumps(doc))
    cli.ok("network", "connect", "b", "s")
    cli.ok("network", "connect", "a", "s")
    assert _ifnames(cli, "s") == ["eth2", "net2"]


def test_spec_2_inspect_lists_the_ipv4_subnet_before_the_ipv6_one(cli):
    """§2 step 5: IPAM allocates v4 first, then v6; inspect shows them in that order even
    when --subnet gave the IPv6 one first."""
    cli.ok("network", "create", "n", "--subnet", "fd00:7::/64", "--subnet", "10.7.0.0/24")
    subnets = json.loads(cli.ok("network", "inspect", "n"))[0]["subnets"]
    assert [s["subnet"] for s in subnets] == ["10.7.0.0/24", "fd00:7::/64"]
    assert cli.ok("network", "ls", "--format", "{subnets[0][subnet]}").split() == ["10.7.0.0/24"]


def test_spec_7_4_dns_search_dot_means_no_search_line(cli):
    """§7.4: "search a b (omitted if the list is just '.')" — not the host's search either."""
    cli.ok("sandbox", "create", "s", "--dns-search", ".", "--dns", "192.0.2.53")
    assert _sandbox(cli, "s")["dns_search"] == ["."]
    assert (cli.etc / "s" / "resolv.conf").read_text() == "nameserver 192.0.2.53\n"
    res = cli("sandbox", "create", "t", "--dns-search", ".", "--dns-search", "example.com")
    assert res.code == 2 and "cannot be combined" in res.err
    assert [s.name for s in State.from_dict(tomllib.loads(cli.state.read_text())).sandboxes] == ["s"]
