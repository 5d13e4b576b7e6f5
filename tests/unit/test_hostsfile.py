"""netctl.hostsfile: a sandbox's hosts and resolv.conf, rendered from the state (spec §7.4)."""

from __future__ import annotations

import pytest

from netctl import hostsfile
from netctl.model import Endpoint, Network, Sandbox, State

STANDARD = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _id(c: str) -> str:
    return c * 64


def world() -> State:
    """``me`` is on front and back; api shares front, db shares back, far is only on other."""
    front = Network("front", _id("f"), "bridge", "t")
    back = Network("back", _id("b"), "bridge", "t")
    other = Network("other", _id("0"), "bridge", "t")
    me = Sandbox("me", _id("1"), "t", extra_hosts=["db.local:10.0.0.5", "v6host:2001:db8::1"])
    api = Sandbox("api-box", _id("2"), "t", hostname="api.example.com")
    db = Sandbox("db-box", _id("3"), "t")
    far = Sandbox("far", _id("4"), "t")
    ep = Endpoint
    endpoints = [
        ep("me-front", _id("a"), front.id, "t", ipv4="172.18.0.2/16", ipv6="fd00::2/64", sandbox=me.id),
        ep("web", _id("c"), front.id, "t", ipv4="172.18.0.3/16", ipv6="fd00::3/64",
           aliases=["www", "frontend"], sandbox=api.id),
        ep("idle", _id("d"), front.id, "t", ipv4="172.18.0.9/16"),  # not joined: no names
        ep("me-back", _id("5"), back.id, "t", ipv4="172.19.0.2/16", sandbox=me.id),
        ep("db", _id("6"), back.id, "t", ipv4="172.19.0.3/16", sandbox=db.id),
        ep("api-other", _id("7"), other.id, "t", ipv4="10.9.0.3/24", sandbox=api.id),
        ep("far", _id("8"), other.id, "t", ipv4="10.9.0.4/24", sandbox=far.id),
    ]
    return State(networks=[front, back, other], endpoints=endpoints, sandboxes=[me, api, db, far])


def sandbox(state: State, name: str) -> Sandbox:
    return next(s for s in state.sandboxes if s.name == name)


WEB_NAMES = "web web.front www www.front frontend frontend.front api.example.com api.example.com.front"


def test_hosts_full_file():
    state = world()
    assert hostsfile.hosts(state, sandbox(state, "me")) == STANDARD + (
        "10.0.0.5\tdb.local\n"
        "2001:db8::1\tv6host\n"
        "172.18.0.2\tme\n"
        "fd00::2\tme\n"
        "172.19.0.2\tme\n"
        f"172.18.0.3\t{WEB_NAMES}\n"
        f"fd00::3\t{WEB_NAMES}\n"
        "172.19.0.3\tdb db.back db-box db-box.back\n"
    )


def test_hosts_only_lists_peers_on_shared_networks():
    state = world()
    text = hostsfile.hosts(state, sandbox(state, "api-box"))
    assert "172.18.0.2\tme-front me-front.front me me.front\n" in text
    assert "10.9.0.4\tfar far.other\n" in text
    assert "172.19." not in text  # db and me-back are on back, which api-box is not on
    assert "10.9.0.3\tapi.example.com api\n" in text  # its own address on other, with fqdn + short
    assert "172.18.0.9" not in text and "idle" not in text


def test_hosts_of_a_sandbox_without_endpoints_is_the_standard_block():
    state = world()
    state.sandboxes.append(Sandbox("lonely", _id("9"), "t"))
    assert hostsfile.hosts(state, sandbox(state, "lonely")) == STANDARD


def test_hosts_never_lists_the_sandbox_as_its_own_peer():
    state = world()
    text = hostsfile.hosts(state, sandbox(state, "far"))
    assert text.count("10.9.0.4") == 1 and "10.9.0.4\tfar\n" in text
    assert "10.9.0.3\tapi-other api-other.other api.example.com api.example.com.other\n" in text


def test_hosts_names_are_not_repeated():
    state = world()
    web = next(e for e in state.endpoints if e.name == "web")
    web.aliases = ["web", "www", "www"]
    sandbox(state, "api-box").hostname = "web"
    text = hostsfile.hosts(state, sandbox(state, "me"))
    assert "172.18.0.3\tweb web.front www www.front\n" in text


def test_hosts_follows_the_state():
    state = world()
    me = sandbox(state, "me")
    state.endpoints = [e for e in state.endpoints if e.name != "db"]  # db left back
    assert "172.19.0.3" not in hostsfile.hosts(state, me)


def test_hosts_skips_endpoints_without_addresses():
    state = world()
    null = Network("none", _id("e"), "null", "t")
    state.networks.append(null)
    state.endpoints.append(Endpoint("quiet", _id("9"), null.id, "t", sandbox=sandbox(state, "api-box").id))
    state.endpoints.append(Endpoint("me-none", "9" * 63 + "a", null.id, "t", sandbox=sandbox(state, "me").id))
    text = hostsfile.hosts(state, sandbox(state, "me"))
    assert "quiet" not in text
    assert text.endswith("\n") and "\n\n" not in text


def test_extra_host_with_an_ipv6_address():
    sb = Sandbox("s", _id("1"), "t", extra_hosts=["gw:fe80::1", "db:10.0.0.5"])
    lines = hostsfile.hosts(State(sandboxes=[sb]), sb).splitlines()
    assert lines[6:] == ["fe80::1\tgw", "10.0.0.5\tdb"]


# ---------------------------------------------------------------------------------------------
# resolv.conf

HOST = """\
# managed by something
nameserver 127.0.0.53
nameserver 1.1.1.1   # cloudflare
nameserver ::1
nameserver 2606:4700:4700::1111
; nameserver 9.9.9.9
search example.com corp.example.com
options ndots:2
options edns0
"""


def sb(**kwargs) -> Sandbox:
    return Sandbox("s", _id("1"), "t", **kwargs)


def test_resolv_conf_drops_localhost_and_ipv6_without_ipv6():
    assert hostsfile.resolv_conf(sb(), HOST, ipv6=False) == (
        "search example.com corp.example.com\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"
    )


def test_resolv_conf_keeps_ipv6_servers_with_ipv6():
    assert hostsfile.resolv_conf(sb(), HOST, ipv6=True) == (
        "search example.com corp.example.com\n"
        "nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\n"
        "options ndots:2 edns0\n"
    )


@pytest.mark.parametrize(
    "host",
    [
        "",
        "nameserver 127.0.0.53\n",
        "nameserver 127.0.0.1\nnameserver 127.1.2.3\nnameserver ::1\n",
        "nameserver fd00::53\n",  # v6 only, and the network has no IPv6
        "# nameserver 1.1.1.1\nnameserver\n",
    ],
)
def test_resolv_conf_falls_back_to_google(host):
    assert hostsfile.resolv_conf(sb(), host, ipv6=False) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_resolv_conf_fallback_with_ipv6_adds_googles_v6_servers():
    assert hostsfile.resolv_conf(sb(), "nameserver 127.0.0.53\n", ipv6=True) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        "nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n"
    )


def test_dns_overrides_the_servers_only():
    text = hostsfile.resolv_conf(sb(dns=["9.9.9.9", "fd00::53"]), HOST, ipv6=False)
    assert text == "search example.com corp.example.com\nnameserver 9.9.9.9\nnameserver fd00::53\n" \
                   "options ndots:2 edns0\n"


def test_dns_search_and_options_override():
    text = hostsfile.resolv_conf(sb(dns_search=["a.test", "b.test"], dns_options=["timeout:1"]), HOST, False)
    assert text == "search a.test b.test\nnameserver 1.1.1.1\noptions timeout:1\n"


def test_dns_search_dot_means_no_search_line():
    assert hostsfile.resolv_conf(sb(dns_search=["."], dns=["9.9.9.9"]), HOST, False) == (
        "nameserver 9.9.9.9\noptions ndots:2 edns0\n"
    )


def test_parse_resolv():
    text = "domain old.test\nsearch a.test b.test\nnameserver 10.0.0.1;x\noptions rotate\nbogus\n" \
           "options a b\n"
    assert hostsfile.parse_resolv(text) == (["10.0.0.1"], ["a.test", "b.test"], ["rotate", "a", "b"])
    assert hostsfile.parse_resolv("search a.test\ndomain last.test\n")[1] == ["last.test"]


def test_host_mode_sees_the_hosts_own_files_spec_7_4():
    """§7.4: a sandbox in the host's namespace without extra hosts gets the host's hosts file,
    and without --dns… its resolv.conf as it is (localhost servers included: same network)."""
    state = State(sandboxes=[sb()])
    host_hosts = "127.0.0.1 localhost\n10.1.2.3 printer\n"
    assert hostsfile.hosts(state, state.sandboxes[0], host_hosts) == host_hosts
    assert hostsfile.resolv_conf(sb(), HOST, ipv6=False, host_mode=True) == HOST
    added = sb(extra_hosts=["db:10.0.0.5"])
    assert hostsfile.hosts(State(sandboxes=[added]), added, host_hosts) == STANDARD + "10.0.0.5\tdb\n"
    assert hostsfile.resolv_conf(sb(dns=["9.9.9.9"]), HOST, ipv6=False, host_mode=True).startswith(
        "search example.com corp.example.com\nnameserver 9.9.9.9\n")
