"""The pure rules of the macvlan and ipvlan drivers (issue 11), and the 802.1q parent's life
cycle against a recording stub (this kernel may have no 802.1q: the integration test of
it skips there, so the decisions are pinned down here too)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace

import pytest

from netctl import drift, validate
from netctl.drivers.sublink import MacvlanDriver
from netctl.errors import InvalidInput, NotFound
from netctl.kernel.base import Link, owner_mark
from netctl.model import Endpoint, Network, Sandbox, State, Subnet
from netctl.service import gateway, networks
from netctl.txn import Transaction

SID = "0123456789abcdef"


def net(name: str, driver: str = "macvlan", **options: str) -> Network:
    return Network(name=name, id=name * 8, driver=driver, created="", options=options,
                   subnets=[Subnet("192.168.1.0/24", gateway="192.168.1.1")])


@pytest.mark.parametrize("item", ["macvlan_mode=bogus", "ipvlan_mode=l4", "ipvlan_flag=none",
                                  "parent=lo", "parent=eth0.4095", "parent=eth0.0",
                                  "parent=a-name-that-is-too-long"])
def test_bad_modes_and_parents_are_exit_2(item):
    with pytest.raises(InvalidInput):
        validate.options([item])


def test_options_per_driver():
    assert validate.options(["parent=eth0.10", "macvlan_mode=passthru"]) == {
        "parent": "eth0.10", "macvlan_mode": "passthru"}
    validate.driver_options("ipvlan", {"parent": "eth0", "ipvlan_mode": "l3s", "ipvlan_flag": "vepa"})
    for driver, key in (("bridge", "parent"), ("macvlan", "ipvlan_mode"), ("ipvlan", "bridge"),
                        ("macvlan", "icc")):
        with pytest.raises(InvalidInput, match=f"'{key}' does not apply to the {driver} driver"):
            validate.driver_options(driver, {key: "x"})


@pytest.mark.parametrize(("mine", "theirs", "clash"), [
    (net("a", parent="e"), net("b", parent="e", macvlan_mode="private"), None),
    (net("a", parent="e"), net("b", parent="e", macvlan_mode="passthru"), "passthru"),
    (net("a", "ipvlan", parent="e"), net("b", parent="e"), "not both"),
    (net("a", "ipvlan", parent="e"), net("b", "ipvlan", parent="e", ipvlan_mode="l2"), None),
    (net("a", "ipvlan", parent="e"), net("b", "ipvlan", parent="e", ipvlan_mode="l3"), "per parent"),
    (net("a", "ipvlan", parent="e"), net("b", "ipvlan", parent="e", ipvlan_flag="private"), "per parent"),
])
def test_which_networks_may_share_a_parent(mine, theirs, clash):
    why = networks._clash(mine, theirs)
    assert (why is None) if clash is None else (clash in why)


def test_ipvlan_l3_default_route_goes_through_the_device():
    l3 = net("a", "ipvlan", parent="e", ipvlan_mode="l3")
    l3.subnets[0].gateway = None
    sb = Sandbox(name="s", id="s" * 8, created="")
    ep = Endpoint(name="s", id="e" * 8, network=l3.id, created="", ipv4="192.168.1.2/24", sandbox=sb.id,
                  ifname="eth0")
    state = State(networks=[l3], sandboxes=[sb], endpoints=[ep])
    routes = gateway.wanted_routes(state, sb)
    assert [(r.dst, r.gateway, r.dev) for r in routes] == [("default", None, "eth0")]
    state.networks[0] = replace(l3, options={"parent": "e", "ipvlan_mode": "l2"})
    assert gateway.wanted_routes(state, sb) == []  # l2 without a gateway: no default route


def _link(name: str, up: bool = True, alias: str | None = None, kind: str = "veth") -> Link:
    return Link(name=name, index=1, kind=kind, mac="", mtu=1500, up=up, alias=alias)


def test_check_reports_a_missing_parent_and_a_down_one_only_when_netctl_made_it():
    mine, theirs = net("a", parent="eth0.10"), net("b", parent="eth1")
    mine.parent_created = True
    facts = drift.Facts(host={"eth1": _link("eth1", up=False)}, netns={}, files={})
    state = State(networks=[mine, theirs])
    assert [f.line for f in drift.compare(state, facts, {})] == ["network a: parent eth0.10 missing"]
    facts.host["eth0.10"] = _link("eth0.10", up=False, kind="vlan", alias=owner_mark(SID, mine.id))
    assert [f.line for f in drift.compare(state, facts, {})] == ["network a: parent eth0.10 down"]


class StubKernel:
    """Just the calls the 802.1q parent path makes, on a dict of host links."""

    def __init__(self, *names: str):
        self.host = {n: _link(n) for n in names}

    def link_get(self, name, netns=None):
        return self.host.get(name)

    def link_kinds(self, kinds):
        return set(kinds)

    def vlan_create(self, name, *, parent, vid, alias):
        self.host[name] = _link(name, up=False, alias=alias, kind="vlan")

    def link_set_up(self, name, up=True, netns=None):
        self.host[name] = replace(self.host[name], up=up)

    def link_set_alias(self, name, alias, netns=None):
        self.host[name] = replace(self.host[name], alias=alias)

    def link_delete(self, name, netns=None):
        self.host.pop(name, None)


class Source:
    def __init__(self, kernel):
        self.kernel = kernel

    def mark(self, object_id):
        return owner_mark(SID, object_id)

    def creating(self, links, mark):
        return nullcontext()


def test_a_vlan_parent_is_made_shared_handed_over_and_removed_with_the_last_network():
    k = StubKernel("eth0")
    driver = MacvlanDriver(Source(k))
    first, second = net("a", parent="eth0.10"), net("b", parent="eth0.10")
    with Transaction() as tx:
        driver.create_network(first, tx)
    assert first.parent_created and k.host["eth0.10"].up and k.host["eth0.10"].owner == first.id
    second.parent_created = True  # what networks.create decides for a second user
    with Transaction() as tx:
        driver.create_network(second, tx)
    driver.hand_over(first, second)  # network rm of the first: the second still uses it
    assert k.host["eth0.10"].owner == second.id
    driver.delete_network(first)
    assert "eth0.10" in k.host
    driver.delete_network(second)
    assert "eth0.10" not in k.host


def test_a_parent_that_existed_is_never_brought_up_nor_removed():
    k = StubKernel("eth0")
    k.host["eth0.10"] = _link("eth0.10", up=False, kind="vlan")
    driver, mine = MacvlanDriver(Source(k)), net("a", parent="eth0.10")
    with Transaction() as tx:
        driver.create_network(mine, tx)
    driver.delete_network(mine)
    assert not mine.parent_created and k.host["eth0.10"] == _link("eth0.10", up=False, kind="vlan")


def test_a_missing_parent_is_not_found_and_a_failed_create_takes_the_vlan_back():
    k = StubKernel("eth0")
    driver = MacvlanDriver(Source(k))
    with pytest.raises(NotFound, match="nor its base interface eth9"), Transaction() as tx:
        driver.create_network(net("a", parent="eth9.10"), tx)
    with pytest.raises(RuntimeError), Transaction() as tx:
        driver.create_network(net("a", parent="eth0.10"), tx)
        raise RuntimeError("a later step failed")
    assert set(k.host) == {"eth0"}


def test_the_ipvlan_mode_and_flag_reach_the_request():
    """This kernel may have no ipvlan to send it to: pin the attributes pyroute2 encodes
    (it knows IFLA_IPVLAN_MODE but not IFLA_IPVLAN_FLAGS until netlink.py adds it)."""
    from pyroute2.iproute.linux import get_arguments_processor

    from netctl.kernel.netlink import IPVLAN_FLAGS, IPVLAN_MODES, _ipvlan_flags_attribute

    _ipvlan_flags_attribute()
    spec = {"ifname": "eth0", "kind": "ipvlan", "link": 2, "ipvlan_mode": IPVLAN_MODES["l3s"],
            "ipvlan_flags": IPVLAN_FLAGS["vepa"]}
    info = dict(get_arguments_processor("link", "add", spec))["IFLA_LINKINFO"]["attrs"]
    assert ("IFLA_INFO_DATA", {"attrs": [("IFLA_IPVLAN_MODE", 2), ("IFLA_IPVLAN_FLAGS", 2)]}) in info


@pytest.mark.parametrize(("driver", "subnets", "extra", "why"), [
    ("macvlan", ["192.168.1.0/24"], {}, "needs -o parent"),
    ("macvlan", [], {"parent": "eth0"}, "needs an IPv4 --subnet"),
    ("macvlan", ["fd00::/64"], {"parent": "eth0"}, "needs an IPv4 --subnet"),
    ("ipvlan", ["192.168.1.0/24"], {"parent": "eth0", "ipv6": True}, "and an IPv6 one"),
    ("ipvlan", ["192.168.1.0/24"], {"parent": "eth0", "internal": True}, "no --internal"),
    ("ipvlan", ["192.168.1.0/24"], {"parent": "eth0", "ipvlan_mode": "l3s", "gateways": ["192.168.1.1"]},
     "no gateway"),
])
def test_sublink_requests_are_refused_before_the_lock(driver, subnets, extra, why):
    options = {k: v for k, v in extra.items() if k in ("parent", "ipvlan_mode")}
    flags = {k: v for k, v in extra.items() if k not in options}
    req = networks.NetworkRequest(name="x", driver=driver, subnets=subnets, **flags)
    with pytest.raises(InvalidInput, match=why):
        networks._refuse_sublink(driver, req, options)


def test_a_vlan_parent_replaced_by_someone_elses_link_is_left_down():
    """The 802.1q parent netctl made was deleted and someone made their own link of that name
    (down): it carries no netctl mark, so repair and restore do not bring it up, and check
    does not call its state drift."""
    k = StubKernel("eth0")
    k.host["eth0.10"] = _link("eth0.10", up=False, kind="vlan", alias="the admin's")
    mine = net("a", parent="eth0.10")
    mine.parent_created = True
    with Transaction() as tx:
        MacvlanDriver(Source(k)).create_network(mine, tx)
    assert k.host["eth0.10"] == _link("eth0.10", up=False, kind="vlan", alias="the admin's")
    facts = drift.Facts(host=dict(k.host), netns={}, files={})
    assert drift.compare(State(networks=[mine]), facts, {}) == []


@pytest.mark.parametrize(("driver", "options"), [
    ("bridge", {"macvlan_mode": "passthru"}), ("bridge", {"parent": "eth0"}),
    ("macvlan", {"parent": "eth0", "ipvlan_mode": "l3"}), ("ipvlan", {"parent": "eth0", "bridge": "br0"})])
def test_a_hand_edited_option_of_another_driver_is_an_inconsistent_state(driver, options):
    """The state is held to network create's rules: an option the driver does not take was
    read anyway (a bridge network with macvlan_mode = "passthru" gave its endpoints no MAC
    and took one endpoint only)."""
    from netctl import consistency

    bad = net("a", driver, **options)
    bad.subnets = []
    assert "does not apply to the" in consistency.first_problem(State(networks=[bad]))
    assert consistency.first_problem(State(networks=[net("a", driver, parent="eth0")
                                                     if driver != "bridge" else net("a", driver)])) is None
