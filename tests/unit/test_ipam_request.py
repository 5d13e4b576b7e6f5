"""netctl.ipam_request.build: docker/cli's --subnet/--gateway/--ip-range/--aux-address pairing (spec §2)."""

from __future__ import annotations

import pytest

from netctl.errors import InvalidInput
from netctl.ipam_request import SubnetRequest, build


def req(subnets=(), gateways=(), ranges=(), aux=()):
    return build(list(subnets), list(gateways), list(ranges), list(aux))


def refused(fragment: str, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        req(**kwargs)
    assert info.value.exit_code == 2
    assert fragment in str(info.value), str(info.value)
    return info.value


def test_nothing_given_is_no_request():
    assert req() == []


def test_one_subnet_with_everything():
    assert req(["172.30.0.0/16"], ["172.30.0.254"], ["172.30.5.0/24"], ["router=172.30.0.2"]) == [
        SubnetRequest("172.30.0.0/16", gateway="172.30.0.254", ip_range="172.30.5.0/24",
                      aux_addresses={"router": "172.30.0.2"})
    ]


def test_v4_and_v6_pair_by_family_whatever_the_order():
    result = req(
        ["fd00:1::/64", "10.5.0.0/24"],
        gateways=["10.5.0.254", "fd00:1::fe"],
        ranges=["fd00:1::ff00/120", "10.5.0.128/25"],
        aux=["a=10.5.0.9", "b=fd00:1::9"],
    )
    assert result == [
        SubnetRequest("fd00:1::/64", gateway="fd00:1::fe", ip_range="fd00:1::ff00/120",
                      aux_addresses={"b": "fd00:1::9"}),
        SubnetRequest("10.5.0.0/24", gateway="10.5.0.254", ip_range="10.5.0.128/25",
                      aux_addresses={"a": "10.5.0.9"}),
    ]


def test_only_some_subnets_get_a_gateway_or_range():
    result = req(["10.5.0.0/24", "fd00:1::/64"], gateways=["fd00:1::1"])
    assert [(r.subnet, r.gateway, r.ip_range) for r in result] == [
        ("10.5.0.0/24", None, None),
        ("fd00:1::/64", "fd00:1::1", None),
    ]


def test_addresses_are_normalised():
    (result,) = req(["FD00:0:0:1::/64"], ["fd00:0:0:1:0:0:0:00fe"], aux=["x=FD00:0:0:1::9"])
    assert (result.subnet, result.gateway, result.aux_addresses) == ("fd00:0:0:1::/64", "fd00:0:0:1::fe",
                                                                     {"x": "fd00:0:0:1::9"})


def test_several_aux_addresses_on_one_subnet():
    (result,) = req(["10.5.0.0/24"], aux=["a=10.5.0.2", "b=10.5.0.3"])
    assert result.aux_addresses == {"a": "10.5.0.2", "b": "10.5.0.3"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gateways": ["10.0.0.1"]},
        {"ranges": ["10.0.0.0/25"]},
        {"subnets": ["10.0.0.0/24"], "gateways": ["10.0.0.1", "10.0.0.2"]},
        {"subnets": ["10.0.0.0/24"], "ranges": ["10.0.0.0/26", "10.0.0.64/26"]},
    ],
)
def test_more_gateways_or_ranges_than_subnets(kwargs):
    refused("every ip-range or gateway must have a corresponding subnet", **kwargs)


@pytest.mark.parametrize(
    "subnets",
    [
        ["10.0.0.0/16", "10.0.1.0/24"],
        ["10.0.1.0/24", "10.0.0.0/16"],
        ["10.0.0.0/24", "10.0.0.0/24"],
        ["fd00::/48", "fd00:0:0:5::/64"],
    ],
)
def test_overlapping_subnets(subnets):
    refused("overlap", subnets=subnets)


@pytest.mark.parametrize(
    ("subnets", "fragment"),
    [
        (["10.0.0.0/24", "10.0.1.0/24"], "more than one IPv4 subnet"),
        (["fd00:1::/64", "fd00:2::/64"], "more than one IPv6 subnet"),
    ],
)
def test_bridge_takes_one_subnet_per_family(subnets, fragment):
    refused(fragment, subnets=subnets)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"subnets": ["10.0.0.0/24"], "gateways": ["10.0.1.1"]}, "no matching subnet for gateway 10.0.1.1"),
        ({"subnets": ["10.0.0.0/24"], "gateways": ["fd00::1"]}, "no matching subnet for gateway fd00::1"),
        ({"subnets": ["fd00::/64"], "gateways": ["10.0.0.1"]}, "no matching subnet for gateway"),
        ({"subnets": ["10.0.0.0/24"], "ranges": ["10.0.1.0/25"]},
         "no matching subnet for ip-range 10.0.1.0/25"),
        ({"subnets": ["10.0.0.0/24"], "ranges": ["10.0.0.0/23"]}, "no matching subnet for ip-range"),
        ({"subnets": ["10.0.0.0/24"], "ranges": ["fd00::/120"]}, "no matching subnet for ip-range"),
        ({"subnets": ["10.0.0.0/24"], "aux": ["r=10.0.1.5"]},
         "no matching subnet for aux-address r=10.0.1.5"),
        ({"aux": ["r=10.0.0.5"]}, "no matching subnet for aux-address"),
    ],
)
def test_no_matching_subnet(kwargs, fragment):
    refused(fragment, **kwargs)


def test_two_gateways_for_one_subnet():
    err = refused("multiple gateways", subnets=["10.0.0.0/24", "fd00::/64"],
                  gateways=["10.0.0.1", "10.0.0.2"])
    assert "10.0.0.0/24" in str(err)


def test_two_ranges_for_one_subnet():
    refused("multiple ranges", subnets=["10.0.0.0/24", "fd00::/64"], ranges=["10.0.0.0/26", "10.0.0.64/26"])


@pytest.mark.parametrize(
    ("subnet", "hint"),
    [("10.0.0.1/24", "10.0.0.0/24"), ("172.18.5.0/16", "172.18.0.0/16"), ("fd00::1/64", "fd00::/64")],
)
def test_host_bits_in_a_subnet_are_refused_with_a_hint(subnet, hint):
    err = refused("host bits set", subnets=[subnet])
    assert f"did you mean {hint}?" in str(err)


def test_host_bits_in_an_ip_range_are_refused():
    err = refused("host bits set", subnets=["10.0.0.0/24"], ranges=["10.0.0.130/25"])
    assert "ip-range" in str(err) and "10.0.0.128/25" in str(err)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"subnets": ["10.0.0.0"]}, "give a prefix length"),
        ({"subnets": ["banana"]}, "invalid subnet"),
        ({"subnets": ["10.0.0.0/33"]}, "invalid subnet"),
        ({"subnets": ["10.0.0.0/24"], "gateways": ["10.0.0.1/24"]}, "invalid gateway"),
        ({"subnets": ["10.0.0.0/24"], "gateways": ["gw"]}, "invalid gateway"),
        ({"subnets": ["10.0.0.0/24"], "ranges": ["x"]}, "invalid ip-range"),
        ({"subnets": ["10.0.0.0/24"], "aux": ["10.0.0.5"]}, "expected KEY=VALUE"),
        ({"subnets": ["10.0.0.0/24"], "aux": ["=10.0.0.5"]}, "expected KEY=VALUE"),
        ({"subnets": ["10.0.0.0/24"], "aux": ["r=nope"]}, "invalid aux-address"),
    ],
)
def test_unparseable_values(kwargs, fragment):
    refused(fragment, **kwargs)
