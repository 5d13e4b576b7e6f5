"""netctl.lookup: objects by name, full ID, unique ID prefix, and endpoints as NETWORK/NAME."""

from __future__ import annotations

import pytest

from netctl import lookup
from netctl.errors import InvalidInput, NotFound
from netctl.model import Endpoint, Network, Sandbox, State

WEB_ID = "1a2b3c" + "0" * 58
DB_ID = "1a2b4d" + "0" * 58
BEEF_ID = "beef" + "1" * 60
BOX_ID = "fedc" + "2" * 60
E1_WEB, E1_DB, SOLO = "9" * 63 + "a", "8" * 63 + "b", "7777" + "c" * 60


def world() -> State:
    return State(
        networks=[
            Network("web", WEB_ID, "bridge", "t"),
            Network("db", DB_ID, "bridge", "t"),
            Network("other", BEEF_ID, "bridge", "t"),
            Network("beef", "3" * 64, "bridge", "t"),  # a name that is also another one's ID prefix
        ],
        sandboxes=[Sandbox("box", BOX_ID, "t")],
        endpoints=[
            Endpoint("e1", E1_WEB, WEB_ID, "t"),
            Endpoint("e1", E1_DB, DB_ID, "t"),
            Endpoint("solo", SOLO, WEB_ID, "t"),
        ],
    )


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("web", "web"),
        ("db", "db"),
        (WEB_ID, "web"),
        (DB_ID, "db"),
        (WEB_ID[:12], "web"),
        ("1a2b3", "web"),
        ("1a2b4", "db"),
        (BEEF_ID[:5], "other"),
        ("beef", "beef"),  # the name wins over the ID prefix
    ],
)
def test_network_by_name_id_or_prefix(ref, name):
    assert lookup.network(world(), ref).name == name


def test_ambiguous_prefix():
    with pytest.raises(InvalidInput) as info:
        lookup.network(world(), "1a2b")
    assert info.value.exit_code == 2
    assert "ambiguous" in str(info.value) and "2 matches" in str(info.value)


@pytest.mark.parametrize(
    "ref",
    [
        "nope",
        "1a2",  # unique-ish, but shorter than 4 characters
        "1a2b5",  # no such ID
        "Web",  # names are case-sensitive
        WEB_ID + "0",
        "",
    ],
)
def test_network_not_found(ref):
    with pytest.raises(NotFound) as info:
        lookup.network(world(), ref)
    assert info.value.exit_code == 3
    assert f"network {ref!r} not found" in str(info.value)


def test_sandbox_by_name_id_or_prefix():
    state = world()
    for ref in ("box", BOX_ID, "fedc", BOX_ID[:12]):
        assert lookup.sandbox(state, ref).name == "box"
    for ref in ("fed", "web", "fedd"):
        with pytest.raises(NotFound, match="sandbox"):
            lookup.sandbox(state, ref)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("web/e1", E1_WEB),
        ("db/e1", E1_DB),
        ("1a2b3/e1", E1_WEB),  # the network part by ID prefix
        (f"{DB_ID}/e1", E1_DB),
        ("solo", SOLO),
        (E1_DB, E1_DB),
        ("9999", E1_WEB),  # endpoint ID prefix
        ("web/7777", SOLO),
    ],
)
def test_endpoint(ref, expected):
    assert lookup.endpoint(world(), ref).id == expected


def test_ambiguous_bare_endpoint_name_gives_the_hint():
    with pytest.raises(InvalidInput) as info:
        lookup.endpoint(world(), "e1")
    assert info.value.exit_code == 2
    assert "ambiguous" in str(info.value)
    assert "web/e1" in str(info.value) and "db/e1" in str(info.value)


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("nope", "endpoint 'nope'"),
        ("db/solo", "endpoint 'solo'"),  # solo exists, but on web
        ("web/", "endpoint ''"),
        ("web/nope", "endpoint 'nope'"),
        ("nonet/e1", "network 'nonet'"),
        ("db/9999", "endpoint '9999'"),  # that prefix is an endpoint of web, not of db
    ],
)
def test_endpoint_not_found(ref, what):
    with pytest.raises(NotFound) as info:
        lookup.endpoint(world(), ref)
    assert info.value.exit_code == 3
    assert what in str(info.value)


def test_endpoint_in():
    state = world()
    web, db = state.networks[:2]
    assert lookup.endpoint_in(state, web, "solo").id == SOLO
    assert lookup.endpoint_in(state, db, "e1").id == E1_DB
    assert lookup.endpoint_in(state, db, "solo") is None
