"""netctl.statetoml writes what tomli_w writes, byte for byte (so either may have written a
state file and an unchanged state is never rewritten), for every document shape."""

from __future__ import annotations

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from netctl import statetoml
from netctl.model import Endpoint, Network, Sandbox, State, Subnet

text = st.text(max_size=12) | st.sampled_from(["", "a b", 'q"uote', "back\\slash", "tab\tx", "ñ", "\x7f",
                                                "line\nbreak", "x" * 90])
keys = st.text(min_size=0, max_size=8) | st.sampled_from(["plain", "with.dot", "a-b_c", "ünï"])
scalars = text | st.integers(-5, 10**12) | st.booleans()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
documents = st.dictionaries(keys, values | st.lists(st.dictionaries(keys, values, max_size=5), max_size=4),
                            max_size=6)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_document_is_written_as_tomli_w_writes_it(document):
    assert statetoml.dumps(document) == tomli_w.dumps(document)


def test_a_real_state_is_written_as_tomli_w_writes_it():
    net = Network("front", "f" * 64, "bridge", "t", subnets=[Subnet("10.0.0.0/24", "10.0.0.1", "10.0.0.0/25",
                                                                   {"router": "10.0.0.2"})],
                  labels={"com.example/team": "net ops", "a": "b"}, options={"mtu": "1400"},
                  bridge="br-x", bridge_changes=["up", "address 10.0.0.1/24"])
    sb = Sandbox("web", "1" * 64, "t", hostname="web.example", dns=["1.1.1.1"], extra_hosts=["db:10.0.0.9"],
                 ifindexes={"eth": 2, "net": 1})
    ep = Endpoint("web", "2" * 64, net.id, "t", mac="02:42:0a:00:00:03", ipv4="10.0.0.3/24",
                  aliases=["www"], sandbox=sb.id, ifname="eth0", host_ifname="veth1234567", priority=3)
    state = State(state_id="0123456789abcdef", networks=[net], endpoints=[ep], sandboxes=[sb])
    assert statetoml.dumps(state.to_dict()) == tomli_w.dumps(state.to_dict())
    assert statetoml.dumps(State().to_dict()) == tomli_w.dumps(State().to_dict())
