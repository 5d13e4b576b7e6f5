"""drift.compare over hand-made kernel facts: one rule per test, no kernel at all."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from netctl import drift
from netctl.kernel.base import Link, Route
from netctl.model import Endpoint, Network, Sandbox, State, Subnet

NET_ID, SB_ID, EP_ID, PARK_ID = "a" * 64, "b" * 64, "c" * 64, "d" * 64
SID, OTHER_SID = "5" * 16, "6" * 16  # this state's identity, another state file's
RESOLV = "nameserver 192.0.2.53\n"


def _state() -> State:
    net = Network("demo", NET_ID, "bridge", "t", [Subnet("10.9.0.0/24", "10.9.0.1")], bridge="br-demo")
    sb = Sandbox("web", SB_ID, "t", next_ifindex=1)
    joined = Endpoint("web", EP_ID, NET_ID, "t", mac="02:42:0a:09:00:02", ipv4="10.9.0.2/24",
                      host_ifname="vethaaaaaaa", sandbox_ifname="vethbbbbbbb", sandbox=SB_ID, ifname="eth0")
    parked = Endpoint("spare", PARK_ID, NET_ID, "t", mac="02:42:0a:09:00:03", ipv4="10.9.0.3/24",
                      host_ifname="vethccccccc", sandbox_ifname="vethddddddd")
    return State(state_id=SID, networks=[net], sandboxes=[sb], endpoints=[joined, parked])


def _link(name, owner=None, kind="veth", sid=SID, **kw) -> Link:
    kw.setdefault("up", True)
    kw.setdefault("alias", (f"netctl:{sid}:{owner}" if sid else f"netctl:{owner}") if owner else None)
    return Link(name=name, index=0, kind=kind, mac=kw.pop("mac", "02:00:00:00:00:01"), mtu=1500, **kw)


def _healthy(state: State) -> drift.Facts:
    host = {
        "lo": _link("lo", kind=""),
        "br-demo": _link("br-demo", NET_ID, "bridge", addresses=("10.9.0.1/24",)),
        "vethaaaaaaa": _link("vethaaaaaaa", EP_ID, master="br-demo"),
        "vethccccccc": _link("vethccccccc", PARK_ID, master="br-demo"),
        "vethddddddd": _link("vethddddddd", PARK_ID, up=False),
    }
    inside = {
        "lo": _link("lo", SB_ID, kind=""),
        "eth0": _link("eth0", EP_ID, mac="02:42:0a:09:00:02", addresses=("10.9.0.2/24",)),
    }
    routes = [Route("default", "10.9.0.1", "eth0"), Route("10.9.0.0/24", None, "eth0", "link")]
    sb = state.sandboxes[0]
    files = {"web": drift.rendered(state, sb, RESOLV)}
    return drift.Facts(host, {"web": drift.NetnsView(inside, routes)}, files, RESOLV)


def _wanted(state: State) -> dict[str, list[Route]]:
    return {SB_ID: [Route("default", "10.9.0.1", "eth0")]}


def _lines(state: State, facts: drift.Facts) -> list[str]:
    return [f"{f.phase}|{f.line}" for f in drift.compare(state, facts, _wanted(state))]


def _replace(links: dict[str, Link], name: str, **changes) -> None:
    links[name] = dataclasses.replace(links[name], **changes)


def test_a_healthy_system_has_no_findings():
    state = _state()
    assert _lines(state, _healthy(state)) == []


def test_missing_bridge_down_bridge_and_missing_gateway_address():
    state = _state()
    facts = _healthy(state)
    _replace(facts.host, "br-demo", up=False, addresses=())
    assert _lines(state, facts)[:2] == [
        "bridge|network demo: bridge br-demo down",
        "bridge|network demo: bridge br-demo lacks gateway address 10.9.0.1/24"]
    del facts.host["br-demo"]
    assert _lines(state, facts)[0] == "bridge|network demo: bridge br-demo missing"


def test_a_namespace_without_the_sandboxs_mark_is_not_looked_into():
    state = _state()
    facts = _healthy(state)
    _replace(facts.netns["web"].links, "lo", alias=None)
    del facts.netns["web"].links["eth0"]
    assert _lines(state, facts) == [
        "sandbox|sandbox web: namespace /run/netns/web is not netctl's (lo carries no mark for this sandbox)"]


def test_a_missing_namespace_is_a_stale_sandbox_and_hides_its_endpoint_details():
    state = _state()
    facts = _healthy(state)
    del facts.netns["web"]
    del facts.host["vethaaaaaaa"]
    assert _lines(state, facts) == ["sandbox|sandbox web: namespace /run/netns/web missing"]


def test_missing_host_veth_of_a_joined_endpoint():
    state = _state()
    facts = _healthy(state)
    del facts.host["vethaaaaaaa"]
    del facts.netns["web"].links["eth0"]
    lines = _lines(state, facts)
    assert "endpoint|endpoint web (demo): host veth vethaaaaaaa missing" in lines
    assert "endpoint|endpoint web (demo): eth0 in sandbox web missing" in lines


@pytest.mark.parametrize("change, expected", [
    ({"up": False}, "host veth vethaaaaaaa down"),
    ({"master": None}, "host veth vethaaaaaaa not a port of br-demo"),
    ({"alias": None}, "host veth vethaaaaaaa is not this endpoint's"),
])
def test_host_end_problems(change, expected):
    state = _state()
    facts = _healthy(state)
    _replace(facts.host, "vethaaaaaaa", **change)
    assert _lines(state, facts) == [f"endpoint|endpoint web (demo): {expected}"]


@pytest.mark.parametrize("change, expected", [
    ({"mac": "02:00:00:00:00:99"}, "eth0 in sandbox web has MAC 02:00:00:00:00:99, not 02:42:0a:09:00:02"),
    ({"addresses": ()}, "eth0 in sandbox web lacks address 10.9.0.2/24"),
    ({"up": False}, "eth0 in sandbox web down"),
])
def test_inside_end_problems(change, expected):
    state = _state()
    facts = _healthy(state)
    _replace(facts.netns["web"].links, "eth0", **change)
    assert f"endpoint|endpoint web (demo): {expected}" in _lines(state, facts)


def test_addresses_compare_by_value_not_by_spelling():
    state = _state()
    state.endpoints[0].ipv6 = "fd00:0:0::2/64"
    facts = _healthy(state)
    _replace(facts.netns["web"].links, "eth0", addresses=("10.9.0.2/24", "fd00::2/64", "fe80::1/64"))
    _replace(facts.netns["web"].links, "lo", addresses=("127.0.0.1/8", "::1/128"))
    assert _lines(state, facts) == []


def test_lo_has_ipv6_exactly_while_an_interface_has_it_spec_7_2():
    """§7.2: "enable IPv6 on lo if any interface has v6, otherwise disable it"; the kernel
    gives lo ::1 when its switch goes on, so the address is the fact compared."""
    state = _state()
    facts = _healthy(state)
    _replace(facts.netns["web"].links, "lo", addresses=("127.0.0.1/8", "::1/128"))
    assert _routes(state, facts) == ["route|sandbox web: lo has IPv6 on, expected off"]
    state.endpoints[0].ipv6 = "fd00::2/64"
    _replace(facts.netns["web"].links, "eth0", addresses=("10.9.0.2/24", "fd00::2/64"))
    assert _routes(state, facts) == []
    _replace(facts.netns["web"].links, "lo", addresses=("127.0.0.1/8",))
    assert _routes(state, facts) == ["route|sandbox web: lo has IPv6 off, expected on"]


def _routes(state: State, facts: drift.Facts) -> list[str]:
    return [line for line in _lines(state, facts) if line.startswith("route|")]


def test_an_ipv6_bridge_carries_fe80_1_spec_2():
    """§2 step 3: an IPv6 bridge gets ``fe80::1/64`` next to its v6 gateway."""
    state = _state()
    net = state.networks[0]
    net.ipv6 = True
    net.subnets.append(Subnet("fd00:9::/64", "fd00:9::1"))
    facts = _healthy(state)
    _replace(facts.host, "br-demo", addresses=("10.9.0.1/24", "fd00:9::1/64"))
    assert _lines(state, facts) == ["bridge|network demo: bridge br-demo lacks address fe80::1/64"]
    _replace(facts.host, "br-demo", addresses=("10.9.0.1/24", "fd00:9::1/64", "fe80::1/64"))
    assert _lines(state, facts) == []


def test_an_unjoined_endpoint_needs_its_parked_veth_in_the_host():
    state = _state()
    facts = _healthy(state)
    del facts.host["vethddddddd"]
    assert _lines(state, facts) == [
        "endpoint|endpoint spare (demo): parked veth vethddddddd missing from the host namespace"]


def test_default_routes_must_match_the_election():
    state = _state()
    facts = _healthy(state)
    facts.netns["web"].routes = [Route("default", "10.9.0.254", "eth0")]
    assert _lines(state, facts) == [
        "route|sandbox web: default route via 10.9.0.1 dev eth0 missing",
        "route|sandbox web: unexpected default route via 10.9.0.254 dev eth0",
    ]


def test_orphans_are_marked_links_and_namespaces_whose_owner_is_gone():
    state = _state()
    facts = _healthy(state)
    gone = "e" * 64
    facts.host["vethdead123"] = _link("vethdead123", gone)
    facts.host["br-dead"] = _link("br-dead", gone, "bridge")
    facts.netns["web"].links["eth1"] = _link("eth1", gone)
    facts.netns["leftover"] = drift.NetnsView({"lo": _link("lo", gone, kind="")})
    found = [f for f in drift.compare(state, facts, _wanted(state)) if f.phase == drift.ORPHAN]
    assert [(f.kind, f.target, f.netns) for f in found] == [
        ("netns", "leftover", "leftover"), ("link", "br-dead", None), ("link", "vethdead123", None),
        ("link", "eth1", "web")]


def test_another_states_objects_and_old_marks_of_unknown_ids_are_never_findings():
    state = _state()
    facts = _healthy(state)
    gone = "e" * 64
    facts.host["vethother12"] = _link("vethother12", gone, sid=OTHER_SID)
    facts.host["br-other"] = _link("br-other", gone, "bridge", sid=OTHER_SID)
    facts.host["vetholdmark"] = _link("vetholdmark", gone, sid=None)  # schema 1: no state named
    facts.netns["web"].links["eth1"] = _link("eth1", gone, sid=OTHER_SID)
    facts.netns["theirs"] = drift.NetnsView({"lo": _link("lo", gone, kind="", sid=OTHER_SID)})
    facts.netns["old"] = drift.NetnsView({"lo": _link("lo", gone, kind="", sid=None)})
    assert _lines(state, facts) == []


def test_a_schema_1_states_objects_with_old_marks_are_still_its_own():
    state = dataclasses.replace(_state(), state_id=None, schema=1)
    facts = _healthy(state)
    for links in (facts.host, facts.netns["web"].links):
        for name, link in links.items():
            if link.alias:
                links[name] = dataclasses.replace(link, alias=f"netctl:{link.owner}")
    assert _lines(state, facts) == []
    facts.host["vethdead123"] = _link("vethdead123", "e" * 64, sid=None)
    assert _lines(state, facts) == []  # an old-format leftover: reported by no one, kept


def test_marks_parse_into_state_and_object():
    new, old = _link("x", EP_ID), _link("y", EP_ID, sid=None)
    assert (new.state_id, new.owner) == (SID, EP_ID) and (old.state_id, old.owner) == (None, EP_ID)
    assert _link("z", alias="netctl:").owner == "" and _link("w", alias="other:x").owner is None


def test_foreign_objects_are_never_findings():
    state = _state()
    facts = _healthy(state)
    facts.host["docker0"] = _link("docker0", kind="bridge")
    facts.host["veththeirs1"] = _link("veththeirs1", master="docker0")
    facts.host["weird"] = _link("weird", alias="something else")
    facts.netns["theirs"] = drift.NetnsView({"lo": _link("lo", kind="")})
    assert _lines(state, facts) == []


def test_files_out_of_date_or_missing():
    state = _state()
    facts = _healthy(state)
    facts.files["web"] = {"hosts": "127.0.0.1\tlocalhost\n", "resolv.conf": None}
    assert _lines(state, facts) == ["file|sandbox web: /etc/netns/web/hosts out of date",
                                    "file|sandbox web: /etc/netns/web/resolv.conf missing"]


def test_findings_come_in_repair_order():
    state = _state()
    facts = _healthy(state)
    facts.files["web"] = {}
    facts.host["vethdead123"] = _link("vethdead123", "e" * 64)
    facts.netns["web"].routes = []
    del facts.host["br-demo"]
    _replace(facts.host, "vethaaaaaaa", master=None)  # a deleted bridge loses its ports
    phases = [f.phase for f in drift.compare(state, facts, _wanted(state))]
    assert phases == sorted(phases, key=drift.PHASES.index)
    assert set(phases) == {"bridge", "endpoint", "route", "orphan", "file"}


def test_drift_is_pure():
    tree = ast.parse(Path(drift.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported <= {"__future__", "dataclasses", "ipaddress", "hostsfile", "kernel.base", "model"}
