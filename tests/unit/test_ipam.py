"""netctl.ipam: default pools, subnet choice, address allocation, MAC/IPv6 derivation (spec §5, §9)."""

from __future__ import annotations

import re
import sys
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netctl import ipam
from netctl.errors import Conflict, Exhausted, InvalidInput
from netctl.model import Endpoint, Network, State, Subnet

# ---------------------------------------------------------------------------------------------
# Default pools and round-robin pool choice (spec §9.1, §9.2)

EXPECTED_POOLS = (
    ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
    + [f"172.{n}.0.0/16" for n in range(20, 32)]
    + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]
)


def test_default_pools_are_libnetworks_31_in_order():
    assert len(ipam.DEFAULT_POOLS) == 31
    assert [str(p) for p in ipam.DEFAULT_POOLS] == EXPECTED_POOLS


def pools(*indexes: int) -> list[IPv4Network]:
    return [ipam.DEFAULT_POOLS[i] for i in indexes]


def net(text: str):
    return ip_network(text)


@pytest.mark.parametrize(
    ("start", "taken", "blocked", "subnet", "next_index"),
    [
        (0, [], [], "172.17.0.0/16", 1),
        (5, [], [], "172.22.0.0/16", 6),
        # taken by a network: skipped
        (0, ["172.17.0.0/16"], [], "172.18.0.0/16", 2),
        (0, ["172.17.0.0/16", "172.18.0.0/16"], [], "172.19.0.0/16", 3),
        # partial overlaps in either direction count as taken
        (0, ["172.17.5.0/24"], [], "172.18.0.0/16", 2),
        (0, ["172.16.0.0/12"], [], "192.168.0.0/20", 16),
        (15, ["192.168.0.0/16"], [], "172.17.0.0/16", 1),
        # host connected route and host nameserver (/32) block a pool
        (0, [], ["172.17.0.0/24"], "172.18.0.0/16", 2),
        (1, [], ["172.18.0.53/32"], "172.19.0.0/16", 3),
        (0, ["172.17.0.0/16"], ["172.18.0.0/16"], "172.19.0.0/16", 3),
        # an IPv6 network never blocks an IPv4 pool
        (0, ["fd00::/8"], ["::/0"], "172.17.0.0/16", 1),
        # wraparound: the last pool, then back to the first
        (30, [], [], "192.168.240.0/20", 0),
        (30, ["192.168.240.0/20"], [], "172.17.0.0/16", 1),
        (29, ["192.168.224.0/19"], [], "172.17.0.0/16", 1),
        # a start index beyond the list wraps too
        (31, [], [], "172.17.0.0/16", 1),
    ],
)
def test_choose_pool(start, taken, blocked, subnet, next_index):
    choice = ipam.choose_pool(ipam.DEFAULT_POOLS, start, [net(t) for t in taken], [net(b) for b in blocked])
    assert str(choice.subnet) == subnet
    assert choice.next_index == next_index


def test_choose_pool_is_round_robin_not_lowest_free():
    """Spec §9.2: create A, delete it, create B -> B gets the *next* pool, not A's again."""
    start, taken = 0, []
    a = ipam.choose_pool(ipam.DEFAULT_POOLS, start, taken, [])
    b = ipam.choose_pool(ipam.DEFAULT_POOLS, a.next_index, taken, [])  # A deleted: nothing taken
    assert (str(a.subnet), str(b.subnet)) == ("172.17.0.0/16", "172.18.0.0/16")


def test_choose_pool_hands_out_every_pool_once_then_is_exhausted():
    taken: list = []
    start = 7
    for _ in range(31):
        choice = ipam.choose_pool(ipam.DEFAULT_POOLS, start, taken, [])
        taken.append(choice.subnet)
        start = choice.next_index
    assert sorted(map(str, taken)) == sorted(EXPECTED_POOLS)
    assert [str(t) for t in taken[:2]] == ["172.24.0.0/16", "172.25.0.0/16"]
    with pytest.raises(Exhausted) as info:
        ipam.choose_pool(ipam.DEFAULT_POOLS, start, taken, [])
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    ("taken", "blocked"),
    [
        (["0.0.0.0/0"], []),
        ([], ["172.16.0.0/12", "192.168.0.0/16"]),
        (["172.16.0.0/12"], ["192.168.0.0/16"]),
    ],
)
def test_choose_pool_exhausted(taken, blocked):
    with pytest.raises(Exhausted) as info:
        ipam.choose_pool(ipam.DEFAULT_POOLS, 3, [net(t) for t in taken], [net(b) for b in blocked])
    assert info.value.exit_code == 5
    assert "non-overlapping" in str(info.value)


def test_choose_pool_with_no_pools_is_exhausted():
    with pytest.raises(Exhausted):
        ipam.choose_pool([], 0, [], [])


def test_choose_pool_uses_the_given_pool_list():
    custom = [net("10.10.0.0/24"), net("10.10.1.0/24")]
    choice = ipam.choose_pool(custom, 0, [net("10.10.0.0/24")], [])
    assert (str(choice.subnet), choice.next_index) == ("10.10.1.0/24", 0)


def test_find_overlap_names_the_network():
    a = Network("a", "1" * 64, "bridge", "t", subnets=[Subnet("10.1.0.0/16")])
    b = Network("b", "2" * 64, "bridge", "t", subnets=[Subnet("10.2.0.0/16"), Subnet("fd00:1::/64")])
    assert ipam.find_overlap(net("10.2.3.0/24"), [a, b]) is b
    assert ipam.find_overlap(net("10.0.0.0/8"), [a, b]) is a
    assert ipam.find_overlap(net("fd00:1::/48"), [a, b]) is b
    assert ipam.find_overlap(net("10.3.0.0/16"), [a, b]) is None


# ---------------------------------------------------------------------------------------------
# Address allocation (spec §9.3)


def ints(*addresses: str) -> set[int]:
    return {int(ip_address(a)) for a in addresses}


@pytest.mark.parametrize(
    ("subnet", "taken", "ip_range", "expected"),
    [
        ("172.18.0.0/16", [], None, "172.18.0.1"),
        ("172.18.0.0/16", ["172.18.0.1"], None, "172.18.0.2"),
        ("172.18.0.0/16", ["172.18.0.1", "172.18.0.2", "172.18.0.4"], None, "172.18.0.3"),
        # the x.y.z.255/x.y.z.0 inside a /16 are ordinary addresses
        ("10.0.0.0/23", [f"10.0.0.{i}" for i in range(1, 256)], None, "10.0.1.0"),
        ("10.0.0.0/30", ["10.0.0.1"], None, "10.0.0.2"),
        # taken addresses outside the subnet do not matter
        ("10.0.0.0/24", ["10.0.1.1", "192.168.0.1"], None, "10.0.0.1"),
        # ip-range: the lowest free address *of the range*, which may be the range's .0
        ("10.0.0.0/16", [], "10.0.5.0/24", "10.0.5.0"),
        ("10.0.0.0/16", ["10.0.5.0", "10.0.5.1"], "10.0.5.0/24", "10.0.5.2"),
        ("10.0.0.0/16", ["10.0.0.1"], "10.0.0.0/24", "10.0.0.2"),  # master .0 never handed out
        ("10.0.0.0/16", [], "10.0.255.254/31", "10.0.255.254"),
        # IPv6: network address reserved, no broadcast
        ("fd00:1::/64", [], None, "fd00:1::1"),
        ("fd00:1::/126", ["fd00:1::1", "fd00:1::2"], None, "fd00:1::3"),
        ("fd00:1::/64", [], "fd00:1::ff00/120", "fd00:1::ff00"),
        ("2001:db8::/32", ["2001:db8::1"], None, "2001:db8::2"),
        # low IPv6 addresses stay IPv6 (an int below 2**32 must not turn into 0.0.0.1)
        ("::/64", [], None, "::1"),
        ("::ffff:0:0/96", ["::ffff:0:1"], None, "::ffff:0:2"),
    ],
)
def test_allocate(subnet, taken, ip_range, expected):
    rng = net(ip_range) if ip_range else None
    assert ipam.allocate(net(subnet), ints(*taken), rng) == expected


def test_allocate_does_not_modify_taken():
    taken = ints("10.0.0.1")
    ipam.allocate(net("10.0.0.0/24"), taken)
    assert taken == ints("10.0.0.1")


@pytest.mark.parametrize(
    ("subnet", "taken", "ip_range"),
    [
        ("10.0.0.0/30", ["10.0.0.1", "10.0.0.2"], None),  # a /30 has exactly 2 usable addresses
        ("10.0.0.0/31", [], None),  # network + broadcast: nothing left (libnetwork's bitmap)
        ("10.0.0.0/32", [], None),
        ("10.0.0.0/24", ["10.0.0.254"], "10.0.0.254/31"),  # .255 is broadcast, .254 taken
        ("10.0.0.0/16", ["10.0.7.0", "10.0.7.1"], "10.0.7.0/31"),  # range full, subnet not
        ("fd00::/127", ["fd00::1"], None),
        ("fd00::5/128", [], None),
    ],
)
def test_allocate_exhausted(subnet, taken, ip_range):
    rng = net(ip_range) if ip_range else None
    with pytest.raises(Exhausted) as info:
        ipam.allocate(net(subnet), ints(*taken), rng)
    assert info.value.exit_code == 5


def test_allocate_fills_a_30_then_reuses_a_freed_address():
    subnet = net("10.9.0.0/30")
    taken: set[int] = set()
    first = ipam.allocate(subnet, taken)
    taken.add(int(ip_address(first)))
    second = ipam.allocate(subnet, taken)
    taken.add(int(ip_address(second)))
    assert (first, second) == ("10.9.0.1", "10.9.0.2")
    with pytest.raises(Exhausted):
        ipam.allocate(subnet, taken)
    taken.discard(int(ip_address(first)))  # released: handed out again at once
    assert ipam.allocate(subnet, taken) == "10.9.0.1"


def test_allocate_reuses_the_lowest_freed_address():
    subnet = net("172.18.0.0/16")
    taken = ints(*[f"172.18.0.{i}" for i in range(1, 11)])
    taken -= ints("172.18.0.7", "172.18.0.3")
    assert ipam.allocate(subnet, taken) == "172.18.0.3"


# ---------------------------------------------------------------------------------------------
# claim: a user-chosen address


def test_claim_returns_the_normalised_address():
    assert ipam.claim(net("172.18.0.0/16"), set(), "172.18.3.4") == "172.18.3.4"
    assert ipam.claim(net("fd00::/64"), set(), "FD00:0:0:0::0042") == "fd00::42"
    # the last IPv6 address is usable (no broadcast); an IPv4 range's .0 inside the subnet too
    assert ipam.claim(net("fd00::/126"), set(), "fd00::3") == "fd00::3"
    assert ipam.claim(net("10.0.0.0/16"), set(), "10.0.1.0") == "10.0.1.0"


@pytest.mark.parametrize(
    ("subnet", "wanted", "fragment"),
    [
        ("172.18.0.0/16", "172.19.0.2", "does not belong"),
        ("172.18.0.0/16", "fd00::2", "does not belong"),
        ("fd00::/64", "172.18.0.2", "does not belong"),
        ("172.18.0.0/16", "172.18.0.0", "network or broadcast"),
        ("172.18.0.0/16", "172.18.255.255", "network or broadcast"),
        ("fd00::/64", "fd00::", "network or broadcast"),
        ("172.18.0.0/16", "not-an-ip", "invalid"),
        ("172.18.0.0/16", "172.18.0.2/16", "invalid"),
        ("172.18.0.0/16", "", "invalid"),
    ],
)
def test_claim_refuses_unusable_addresses(subnet, wanted, fragment):
    with pytest.raises(InvalidInput) as info:
        ipam.claim(net(subnet), set(), wanted, "gateway")
    assert info.value.exit_code == 2
    assert fragment in str(info.value)
    assert "gateway" in str(info.value)


def test_claim_taken_is_a_conflict():
    with pytest.raises(Conflict) as info:
        ipam.claim(net("172.18.0.0/16"), ints("172.18.0.2"), "172.18.0.2")
    assert info.value.exit_code == 4
    assert "already in use" in str(info.value)


# ---------------------------------------------------------------------------------------------
# MAC and IPv6 derivation (spec §5)


@pytest.mark.parametrize(
    ("ipv4", "mac"),
    [
        ("172.18.0.2", "02:42:ac:12:00:02"),
        ("10.255.0.1", "02:42:0a:ff:00:01"),
        ("192.168.240.254", "02:42:c0:a8:f0:fe"),
    ],
)
def test_mac_from_ipv4(ipv4, mac):
    assert ipam.mac_from_ipv4(ipv4) == mac


MAC_SHAPE = r"^02:42(:[0-9a-f]{2}){4}$"


def test_mac_without_address_is_random_02_42():
    macs = {ipam.mac_from_ipv4(None) for _ in range(8)} | {ipam.random_mac() for _ in range(8)}
    for mac in macs:
        assert re.match(MAC_SHAPE, mac), mac
    assert len(macs) > 1


@pytest.mark.parametrize(
    ("subnet", "mac", "expected"),
    [
        ("fd00:1:2:3::/64", "02:42:ac:12:00:02", "fd00:1:2:3:0:242:ac12:2"),
        ("fd00:1:2:3:4::/80", "02:42:ac:12:00:02", "fd00:1:2:3:4:242:ac12:2"),
        ("2001:db8::/48", "02:42:AC:12:00:FF", "2001:db8::242:ac12:ff"),
        ("fe80::/64", "de:ad:be:ef:00:01", "fe80::dead:beef:1"),
    ],
)
def test_ipv6_from_mac(subnet, mac, expected):
    addr = ipam.ipv6_from_mac(net(subnet), mac)
    assert addr == expected
    assert ip_address(addr) in net(subnet)


@pytest.mark.parametrize("subnet", ["fd00:1:2:3:4:5::/96", "fd00:1:2:3:4:8000::/81", "fd00::1/128"])
def test_ipv6_from_mac_needs_48_host_bits(subnet):
    with pytest.raises(Conflict) as info:
        ipam.ipv6_from_mac(net(subnet), "02:42:ac:12:00:02")
    assert info.value.exit_code == 4
    assert "48 host bits" in str(info.value)
    with pytest.raises(Conflict):
        ipam.check_self_generation(net(subnet))


def test_check_self_generation_accepts_80_and_wider():
    for subnet in ("fd00::/80", "fd00::/64", "fd00::/48"):
        ipam.check_self_generation(net(subnet))  # no error


# ---------------------------------------------------------------------------------------------
# ULA prefix and /64 choice for --ipv6 without a subnet

ULA = "fd12:3456:789a::/48"


def test_new_ula_prefix_is_a_random_fd_48():
    prefixes = {ipam.new_ula_prefix() for _ in range(5)}
    for text in prefixes:
        prefix = ip_network(text)  # strict: no host bits set
        assert isinstance(prefix, IPv6Network)
        assert prefix.prefixlen == 48
        assert prefix.subnet_of(ip_network("fd00::/8"))
    assert len(prefixes) > 1


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        ([], "fd12:3456:789a::/64"),
        (["fd12:3456:789a::/64"], "fd12:3456:789a:1::/64"),
        (["fd12:3456:789a:1::/64", "fd12:3456:789a::/64"], "fd12:3456:789a:2::/64"),
        (["fd12:3456:789a::/64", "fd12:3456:789a:2::/64"], "fd12:3456:789a:1::/64"),
        # a longer prefix inside a /64 still uses that /64
        (["fd12:3456:789a::/80", "fd12:3456:789a::1:0:0/96"], "fd12:3456:789a:1::/64"),
        # a shorter prefix inside the /48 blocks every /64 it covers
        (["fd12:3456:789a::/56"], "fd12:3456:789a:100::/64"),
        (["fd12:3456:789a::/63", "fd12:3456:789a:2::/64"], "fd12:3456:789a:3::/64"),
        # other /48s, IPv4 networks and duplicates are ignored
        (["fd12:3456:789b::/64", "fd12:3456:7899::/48", "10.0.0.0/8"], "fd12:3456:789a::/64"),
        (["fd12:3456:789a::/64", "fd12:3456:789a::/64"], "fd12:3456:789a:1::/64"),
    ],
)
def test_choose_ula_subnet_lowest_free_64(taken, expected):
    assert str(ipam.choose_ula_subnet(ULA, [net(t) for t in taken])) == expected


@pytest.mark.parametrize(
    "taken",
    [
        ["fd12:3456:789a::/48"],
        ["fd00::/8"],
        ["fd12:3456:789a::/49", "fd12:3456:789a:8000::/49"],
    ],
)
def test_choose_ula_subnet_exhausted(taken):
    with pytest.raises(Exhausted) as info:
        ipam.choose_ula_subnet(ULA, [net(t) for t in taken])
    assert info.value.exit_code == 5


def test_choose_ula_subnet_last_free_64():
    taken = [net("fd12:3456:789a::/49"), net("fd12:3456:789a:8000::/50"),
             net("fd12:3456:789a:c000::/51"), net("fd12:3456:789a:e000::/52"),
             net("fd12:3456:789a:f000::/53"), net("fd12:3456:789a:f800::/54"),
             net("fd12:3456:789a:fc00::/55"), net("fd12:3456:789a:fe00::/56"),
             net("fd12:3456:789a:ff00::/57"), net("fd12:3456:789a:ff80::/58"),
             net("fd12:3456:789a:ffc0::/59"), net("fd12:3456:789a:ffe0::/60"),
             net("fd12:3456:789a:fff0::/61"), net("fd12:3456:789a:fff8::/62"),
             net("fd12:3456:789a:fffc::/63"), net("fd12:3456:789a:fffe::/64")]
    assert str(ipam.choose_ula_subnet(ULA, taken)) == "fd12:3456:789a:ffff::/64"


@st.composite
def ula_taken(draw):
    """Networks in and around the /48: /56.../128 within its first 1024 /64s, plus strays."""
    base = int(ip_network(ULA).network_address)
    inside = st.builds(
        lambda index, low, prefix: IPv6Network((base + (index << 64) + low, prefix), strict=False),
        st.integers(0, 1023), st.integers(0, 2**64 - 1), st.integers(56, 128),
    )
    strays = st.sampled_from([net("fd12:3456:789b::/64"), net("fd12:3456:7899::/48"), net("10.0.0.0/8")])
    return draw(st.lists(st.one_of(inside, inside, strays), max_size=12))


@settings(max_examples=200, deadline=None)
@given(ula_taken())
def test_choose_ula_subnet_is_the_lowest_64_overlapping_nothing(taken):
    base = int(ip_network(ULA).network_address)
    spans = [(int(t.network_address), int(t.broadcast_address)) for t in taken if t.version == 6]

    def free(index: int) -> bool:
        lo, hi = base + (index << 64), base + ((index + 1) << 64) - 1
        return not any(t_lo <= hi and lo <= t_hi for t_lo, t_hi in spans)

    expected = next(i for i in range(2**16) if free(i))  # within the first 1024 + 256
    assert ipam.choose_ula_subnet(ULA, taken) == IPv6Network((base + (expected << 64), 64))


# ---------------------------------------------------------------------------------------------
# used_addresses: allocations derived from the objects, never stored twice


def _state() -> tuple[State, Network, Network]:
    web = Network(
        "web", "a" * 64, "bridge", "t",
        subnets=[
            Subnet("172.18.0.0/16", gateway="172.18.0.1", aux_addresses={"router": "172.18.0.9"}),
            Subnet("fd00:1::/64", gateway="fd00:1::1", aux_addresses={"v6aux": "fd00:1::99"}),
        ],
        ipv6=True,
    )
    db = Network("db", "b" * 64, "bridge", "t", subnets=[Subnet("172.19.0.0/16", gateway="172.19.0.1")])
    state = State(
        networks=[web, db],
        endpoints=[
            Endpoint("e1", "1" * 64, web.id, "t", ipv4="172.18.0.2/16", ipv6="fd00:1::2/64"),
            Endpoint("e2", "2" * 64, web.id, "t", ipv4="172.18.0.3/16"),
            Endpoint("e3", "3" * 64, db.id, "t", ipv4="172.19.0.2/16"),
            Endpoint("e4", "4" * 64, web.id, "t"),  # no address (e.g. not yet planned)
        ],
    )
    return state, web, db


def test_used_addresses_derives_from_gateway_aux_and_endpoints():
    state, web, db = _state()
    v4, v6 = web.subnets
    assert ipam.used_addresses(state, web, v4) == ints("172.18.0.1", "172.18.0.9", "172.18.0.2", "172.18.0.3")
    assert ipam.used_addresses(state, web, v6) == ints("fd00:1::1", "fd00:1::99", "fd00:1::2")
    assert ipam.used_addresses(state, db, db.subnets[0]) == ints("172.19.0.1", "172.19.0.2")


def test_used_addresses_follows_the_state():
    state, web, _ = _state()
    v4 = web.subnets[0]
    assert ipam.allocate(ip_network(v4.subnet), ipam.used_addresses(state, web, v4)) == "172.18.0.4"
    state.endpoints = [e for e in state.endpoints if e.name != "e1"]  # endpoint deleted: freed
    assert ipam.allocate(ip_network(v4.subnet), ipam.used_addresses(state, web, v4)) == "172.18.0.2"


def test_used_addresses_ignores_values_outside_the_subnet():
    sub = Subnet("10.1.0.0/24", gateway="10.1.0.1", aux_addresses={"far": "10.2.0.5", "v6": "fd00::5"})
    network = Network("n", "c" * 64, "bridge", "t", subnets=[sub])
    outside = Endpoint("e", "d" * 64, network.id, "t", ipv4="10.1.1.5/16")
    state = State(networks=[network], endpoints=[outside])
    assert ipam.used_addresses(state, network, sub) == ints("10.1.0.1")


# ---------------------------------------------------------------------------------------------
# Properties: random subnets, random pre-taken sets, optional ip-range


def oracle(subnet, area, taken: set[int]) -> int | None:
    """Lowest usable address of ``area`` by a plain scan (at most len(taken) + 3 steps)."""
    bad = taken | {int(subnet.network_address)}
    if subnet.version == 4:
        bad.add(int(subnet.broadcast_address))
    value = int(area.network_address)
    while value in bad:
        value += 1
    return value if value <= int(area.broadcast_address) else None


@st.composite
def scenarios(draw):
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    cls = IPv4Network if version == 4 else IPv6Network
    prefix = draw(st.integers(8 if version == 4 else 48, bits))
    subnet = cls((draw(st.integers(0, 2**bits - 1)), prefix), strict=False)
    area = subnet
    if draw(st.booleans()):
        start = draw(st.integers(int(subnet.network_address), int(subnet.broadcast_address)))
        area = cls((start, draw(st.integers(prefix, bits))), strict=False)
    first, size, area_first = int(subnet.network_address), subnet.num_addresses, int(area.network_address)
    near = st.integers(0, min(area.num_addresses - 1, 40)).map(lambda o: area_first + o)
    anywhere = st.integers(first, first + size - 1)
    taken = draw(st.sets(st.one_of(near, anywhere), max_size=60))
    rounds = draw(st.integers(1, 25))
    return subnet, (area if area is not subnet else None), taken, rounds


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_allocate_properties(scenario):
    subnet, ip_range, pre_taken, rounds = scenario
    area = ip_range or subnet
    taken = set(pre_taken)
    handed_out: list[int] = []
    for _ in range(rounds):
        expected = oracle(subnet, area, taken)
        if expected is None:
            with pytest.raises(Exhausted):
                ipam.allocate(subnet, set(taken), ip_range)
            break
        addr = ip_address(ipam.allocate(subnet, set(taken), ip_range))
        value = int(addr)
        assert value == expected  # lowest free
        assert addr in subnet and addr in area
        assert value not in pre_taken and value not in handed_out
        assert value != int(subnet.network_address)
        if subnet.version == 4:
            assert value != int(subnet.broadcast_address)
        handed_out.append(value)
        taken.add(value)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.data())
def test_claim_agrees_with_allocate(scenario, data):
    """Every address allocate() hands out is one claim() accepts, and then refuses as taken."""
    subnet, ip_range, taken, _ = scenario
    try:
        addr = ipam.allocate(subnet, taken, ip_range)
    except Exhausted:
        return
    assert ipam.claim(subnet, taken, addr) == addr
    with pytest.raises(Conflict):
        ipam.claim(subnet, taken | {int(ip_address(addr))}, addr)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**80 - 1), st.integers(48, 80), st.binary(min_size=6, max_size=6))
def test_ipv6_from_mac_properties(high, prefix, raw):
    subnet = IPv6Network((high << 48, prefix), strict=False)
    mac = ":".join(f"{b:02x}" for b in raw)
    addr = ip_address(ipam.ipv6_from_mac(subnet, mac))
    assert addr in subnet
    assert addr.packed[10:] == raw
    assert addr.packed[:10] == subnet.network_address.packed[:10]


# ---------------------------------------------------------------------------------------------
# Cost shape: the work depends on the addresses taken, not on the size of the subnet.
# Measured by counting work (executed Python lines) and by forbidding enumeration; no clocks.


def count_lines(fn) -> tuple[object, int]:
    """Run ``fn`` and count the Python line events it executes (in any module)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = fn()
    finally:
        sys.settrace(old)
    return result, count


def taken_pattern(subnet, block: int, scattered: int) -> set[int]:
    """``block`` addresses right after the network address, plus ``scattered`` spread evenly."""
    first = int(subnet.network_address)
    taken = set(range(first + 1, first + 1 + block))
    if scattered:
        step = (subnet.num_addresses - block - 9) // scattered
        taken |= {first + 1 + block + 7 + i * step for i in range(scattered)}
    return taken


@pytest.fixture
def no_enumeration(monkeypatch):
    """Make walking a network's addresses an error, so a test can prove nothing does."""

    def forbidden(self, *args, **kwargs):
        raise AssertionError(f"enumerated {self}")

    for cls in (IPv4Network, IPv6Network):
        monkeypatch.setattr(cls, "hosts", forbidden)
        monkeypatch.setattr(cls, "__iter__", forbidden)
        monkeypatch.setattr(cls, "subnets", forbidden)


@pytest.mark.parametrize("subnet", ["10.0.0.0/8", "fd00:1::/64", "2001:db8::/32"])
def test_allocate_in_a_huge_subnet_with_10000_taken_never_enumerates(subnet, request):
    network = net(subnet)
    taken = taken_pattern(network, 5_000, 5_000)
    expected = oracle(network, network, taken)
    request.getfixturevalue("no_enumeration")
    with pytest.raises(AssertionError):  # the guard is live
        list(network.hosts())
    assert int(ip_address(ipam.allocate(network, taken))) == expected == int(network.network_address) + 5_001
    # and with a range far inside the subnet
    rng = ip_network((int(network.network_address) + 2**20, 120 if network.version == 6 else 24))
    assert ipam.allocate(network, taken, rng) == str(rng.network_address)


def test_allocation_work_does_not_depend_on_subnet_size():
    """The same 200 taken addresses cost the same in a /24, a /8 and a /64 (within 25%)."""
    work = {}
    for subnet in ("10.1.2.0/24", "10.0.0.0/8", "fd00:1::/64", "fd00::/16"):
        network = net(subnet)
        taken = taken_pattern(network, 150, 50)
        result, work[subnet] = count_lines(lambda: ipam.allocate(network, taken))  # noqa: B023
        assert int(ip_address(result)) == int(network.network_address) + 151
    baseline = work["10.1.2.0/24"]
    assert baseline > 0
    for subnet, lines in work.items():
        assert lines <= baseline * 1.25, (subnet, lines, baseline)


def test_allocation_work_grows_with_taken_addresses_not_subnet_size():
    """10,000 taken in a /8 or /64 cost about 10,000/200 times the /24 case: linear in taken."""
    small = net("10.1.2.0/24")
    _, baseline = count_lines(lambda: ipam.allocate(small, taken_pattern(small, 150, 50)))
    for subnet in ("10.0.0.0/8", "fd00:1::/64"):
        network = net(subnet)
        taken = taken_pattern(network, 5_000, 5_000)
        _, lines = count_lines(lambda: ipam.allocate(network, taken))  # noqa: B023
        assert lines <= baseline * (10_000 / 200) * 1.5, (subnet, lines, baseline)


def test_choose_ula_subnet_work_does_not_depend_on_the_48():
    """10,000 /64s taken: the next /64 costs work linear in those, not a walk of 65,536 /64s."""
    base = int(ip_network(ULA).network_address)

    def first_taken(n: int) -> list[IPv6Network]:  # fresh objects: ipaddress caches properties
        return [IPv6Network((base + (i << 64), 64)) for i in range(n)]

    many, few = first_taken(10_000), first_taken(100)
    result, lines = count_lines(lambda: ipam.choose_ula_subnet(ULA, many))
    assert result == IPv6Network((base + (10_000 << 64), 64))
    _, small = count_lines(lambda: ipam.choose_ula_subnet(ULA, few))
    assert lines <= small * 100 * 1.5, (lines, small)
