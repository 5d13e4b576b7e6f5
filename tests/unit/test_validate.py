"""netctl.validate: the input rules applied before anything is locked or changed."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netctl import validate
from netctl.errors import InvalidInput
from netctl.model import Network


def refused(fn, *args, fragment: str = "") -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        fn(*args)
    assert info.value.exit_code == 2
    assert fragment in str(info.value), str(info.value)
    return info.value


# ---------------------------------------------------------------------------------------------
# names: they become /run/netns/NAME and /etc/netns/NAME


@pytest.mark.parametrize("value", ["web", "a", "A1", "1net", "my-net_1.2", "a..b", "x" * 64, "a-"])
def test_name_ok(value):
    assert validate.name(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "", ".", "..", "../x", "a/b", "/abs", "x/..", "a\\b",
        "x" * 65,
        "a b", " a", "a ", "a\t", "a\n", "\na", "a\r", "a\x00b",
        "né", "résumé", "сеть", "a\u00a0b", "ａ",  # non-ASCII, incl. a no-break space and a fullwidth a
        "-a", "_a", ".hidden", "a:b", "a;b", "a$b", "a*",
    ],
)
def test_name_refused(value):
    err = refused(validate.name, value, "network name")
    assert "network name" in str(err)


@given(st.text(max_size=70))
def test_an_accepted_name_is_one_safe_path_component(value):
    try:
        validate.name(value)
    except InvalidInput:
        return
    assert 1 <= len(value) <= 64 and value.isascii()
    assert not any(c.isspace() or c in "/\\\x00" for c in value)
    path = os.path.normpath(os.path.join("/run/netns", value))
    assert os.path.dirname(path) == "/run/netns" and os.path.basename(path) == value


@pytest.mark.parametrize("value", ["br0", "veth.1", "eth-0", "x" * 15, "_x"])
def test_ifname_ok(value):
    assert validate.ifname(value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "x" * 16, "a/b", "a b", "a:b", "br0\n", "bré"])
def test_ifname_refused(value):
    refused(validate.ifname, value, fragment="1-15")


@pytest.mark.parametrize("value", ["web", "web.example.com", "a-b", "x" * 63, "1host"])
def test_hostname_ok(value):
    assert validate.hostname(value) == value


@pytest.mark.parametrize(
    "value", ["", "-a", "a_b", "x" * 64, "a..b", "a.", "host\n", "a b", ("x" * 60 + ".") * 4 + "x" * 20]
)
def test_hostname_refused(value):
    refused(validate.hostname, value, fragment="invalid hostname")


# ---------------------------------------------------------------------------------------------
# MTU, MAC, addresses


@pytest.mark.parametrize(("value", "expected"), [(68, 68), ("1500", 1500), (65535, 65535), ("9000", 9000)])
def test_mtu_ok(value, expected):
    assert validate.mtu(value) == expected


@pytest.mark.parametrize("value", [67, 0, -1, 65536, "65536"])
def test_mtu_out_of_bounds(value):
    refused(validate.mtu, value, fragment="MTU")


@pytest.mark.parametrize("value", ["abc", "", "15.5", "1e3", None])
def test_mtu_not_a_number(value):
    refused(validate.mtu, value, fragment="not a number")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02:42:AC:12:00:02", "02:42:ac:12:00:02"),
        ("02:42:ac:12:00:02", "02:42:ac:12:00:02"),
        ("00:11:22:33:44:55", "00:11:22:33:44:55"),
        ("Fe:00:00:00:00:00", "fe:00:00:00:00:00"),
    ],
)
def test_mac_ok_and_lowercased(value, expected):
    assert validate.mac(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast"),
        ("03:42:ac:12:00:02", "multicast"),
        ("00:00:00:00:00:00", "all zeros"),
        ("02-42-ac-12-00-02", "invalid MAC"),
        ("02:42:ac:12:00", "invalid MAC"),
        ("02:42:ac:12:00:02:03", "invalid MAC"),
        ("0242ac120002", "invalid MAC"),
        ("02:42:ac:12:00:0g", "invalid MAC"),
        ("2:42:ac:12:00:02", "invalid MAC"),
        ("02:42:ac:12:00:02\n", "invalid MAC"),
        ("", "invalid MAC"),
    ],
)
def test_mac_refused(value, fragment):
    refused(validate.mac, value, fragment=fragment)


@given(st.binary(min_size=6, max_size=6))
def test_mac_accepts_exactly_unicast_nonzero(raw):
    text = ":".join(f"{b:02X}" for b in raw)
    if raw[0] & 1 or raw == bytes(6):
        refused(validate.mac, text)
    else:
        assert validate.mac(text) == text.lower()


@pytest.mark.parametrize(
    ("value", "version", "expected"),
    [("10.0.0.1", None, "10.0.0.1"), ("FD00::0001", None, "fd00::1"), ("10.0.0.1", 4, "10.0.0.1"),
     ("fd00::1", 6, "fd00::1")],
)
def test_address_ok(value, version, expected):
    assert validate.address(value, "--ip", version) == expected


@pytest.mark.parametrize(
    ("value", "version", "fragment"),
    [("10.0.0.1", 6, "not an IPv6 address"), ("fd00::1", 4, "not an IPv4 address"),
     ("10.0.0.1/24", None, "invalid --ip"), ("10.0.0.256", None, "invalid --ip"), ("", None, "invalid --ip")],
)
def test_address_refused(value, version, fragment):
    refused(validate.address, value, "--ip", version, fragment=fragment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.0/8", "10.0.0.0/8"), ("172.18.0.0/16", "172.18.0.0/16"), ("FD00:1::/64", "fd00:1::/64"),
     ("10.1.0.0/255.255.0.0", "10.1.0.0/16"), ("10.0.0.5/32", "10.0.0.5/32")],
)
def test_cidr_ok(value, expected):
    assert validate.cidr(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10.0.0.1/24", "host bits set (did you mean 10.0.0.0/24?)"),
        ("fd00::1/64", "host bits set (did you mean fd00::/64?)"),
        ("10.0.0.0", "give a prefix length"),
        ("10.0.0.0/33", "invalid subnet"),
        ("fd00::/129", "invalid subnet"),
        ("banana/8", "invalid subnet"),
        ("", "invalid subnet"),
    ],
)
def test_cidr_refused(value, fragment):
    refused(validate.cidr, value, fragment=fragment)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("169.254.1.2", "169.254.1.2/16"), ("fe80::1", "fe80::1/64"), ("FE80::a", "fe80::a/64")],
)
def test_link_local_gets_its_prefix(value, expected):
    assert validate.link_local(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("10.0.0.1", "not link-local"), ("fd00::1", "not link-local"), ("169.254.1.2/16", "invalid link-local"),
     ("x", "invalid link-local")],
)
def test_link_local_refused(value, fragment):
    refused(validate.link_local, value, fragment=fragment)


# ---------------------------------------------------------------------------------------------
# -o options and labels


@pytest.mark.parametrize(
    ("given_key", "value", "key", "expected"),
    [
        ("com.docker.network.driver.mtu", "9000", "mtu", "9000"),
        ("com.docker.network.bridge.name", "br-test", "bridge", "br-test"),
        ("com.docker.network.bridge.enable_icc", "false", "icc", "false"),
        ("com.docker.network.bridge.enable_ip_masquerade", "0", "masquerade", "false"),
        ("com.docker.network.bridge.host_binding_ipv4", "127.0.0.1", "host_ip", "127.0.0.1"),
        ("com.docker.network.container_iface_prefix", "net", "iface_prefix", "net"),
        ("mtu", "1400", "mtu", "1400"),
        ("bridge", "br0", "bridge", "br0"),
        ("hairpin", "on", "hairpin", "true"),
        ("ipv6_from_mac", "YES", "ipv6_from_mac", "true"),
    ],
)
def test_options_normalised_to_short_keys(given_key, value, key, expected):
    assert validate.options([f"{given_key}={value}"]) == {key: expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [*((v, "true") for v in ("true", "1", "yes", "on", "TRUE", "On")),
     *((v, "false") for v in ("false", "0", "no", "off", "False"))],
)
def test_bool_options(value, expected):
    assert validate.options([f"icc={value}"]) == {"icc": expected}


def test_several_options_and_the_last_of_a_key_wins():
    opts = ["mtu=1400", "icc=no", "com.docker.network.driver.mtu=1450", "masquerade=true"]
    assert validate.options(opts) == {"mtu": "1450", "icc": "false", "masquerade": "true"}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("icc=maybe", "expected true or false"),
        ("icc=", "expected true or false"),
        ("mtu=abc", "not a number"),
        ("com.docker.network.driver.mtu=20", "between 68 and 65535"),
        ("bridge=a-very-long-bridge", "bridge name"),
        ("bridge=br 0", "bridge name"),
        ("iface_prefix=Eth", "iface_prefix"),
        ("iface_prefix=1eth", "iface_prefix"),
        ("iface_prefix=abcdefghijk", "iface_prefix"),
        ("iface_prefix=eth\n", "iface_prefix"),
        ("host_ip=::1", "not an IPv4 address"),
        ("host_ip=localhost", "invalid host_ip"),
        ("com.docker.network.bridge.enable_foo=true", "unknown option"),
        ("color=blue", "unknown option"),
        ("mtu", "expected KEY=VALUE"),
        ("=1500", "expected KEY=VALUE"),
    ],
)
def test_options_refused(item, fragment):
    refused(validate.options, [item], fragment=fragment)


def test_unknown_option_lists_the_known_ones():
    err = refused(validate.options, ["nope=1"])
    for key in ("mtu", "bridge", "icc", "masquerade", "host_ip", "iface_prefix"):
        assert key in str(err)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["team=net"], {"team": "net"}),
        (["com.example.owner=a/b c"], {"com.example.owner": "a/b c"}),
        (["flag"], {"flag": ""}),
        (["a=b=c"], {"a": "b=c"}),
        (["note=ünïcode"], {"note": "ünïcode"}),
        (["a=1", "a=2"], {"a": "2"}),
    ],
)
def test_labels_ok(items, expected):
    assert validate.labels(items) == expected


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("=v", "bad key"),
        ("-a=v", "bad key"),
        ("a b=v", "bad key"),
        ("a\n=v", "bad key"),
        ("k" * 129 + "=v", "bad key"),
        ("a=b\x00", "control characters"),
        ("a=line1\nline2", "control characters"),
        ("a=\x7f", "control characters"),
    ],
)
def test_labels_refused(item, fragment):
    refused(validate.labels, [item], fragment=fragment)


def test_key_values():
    assert validate.key_values(["a=1", "b=", "c=x=y"], "aux-address") == {"a": "1", "b": "", "c": "x=y"}
    refused(validate.key_values, ["a"], "aux-address", fragment="invalid aux-address 'a'")


def test_driver():
    for name in ("bridge", "null", "host"):
        assert validate.driver(name) == name
    refused(validate.driver, "overlay", fragment="unknown driver 'overlay'")


def test_option_bool():
    network = Network("n", "0" * 64, "bridge", "t", options={"icc": "false", "masquerade": "true"})
    assert validate.option_bool(network, "icc", True) is False
    assert validate.option_bool(network, "masquerade", False) is True
    assert validate.option_bool(network, "hairpin", True) is True
    assert validate.option_bool(network, "hairpin", False) is False
