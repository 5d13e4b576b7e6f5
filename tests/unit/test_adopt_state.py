"""An adopted sandbox in the state file (Sandbox.adopted, Sandbox.hosts_file): read back as
written, held to its rules by the store (exit 8, file untouched), and absent from the file of
a sandbox netctl made, so a state without adoptions keeps the layout earlier netctl reads.
Also the pure rule that keeps netctl's default routes apart from an adopted namespace's own."""

from __future__ import annotations

import pytest
import tomli_w
from test_store import _good_document, refused_unchanged

from netctl import consistency
from netctl.kernel.base import Route
from netctl.model import Sandbox
from netctl.service.gateway import own_defaults
from netctl.store import parse

ADOPTED = {"ino": 4026532317, "cookie": 52970, "bound": 1, "pid": 4242, "start": 123456}


def _adopted_document(**changes) -> dict:
    doc = _good_document()
    doc["sandboxes"][0]["adopted"] = {**ADOPTED, **changes}
    return doc


def test_an_adopted_sandbox_reads_back_as_written(tmp_path):
    doc = _adopted_document()
    doc["sandboxes"][0]["hosts_file"] = "/var/lib/containers/c1/userdata/hosts"
    state = parse(tomli_w.dumps(doc).encode(), tmp_path / "state.toml")
    assert consistency.first_problem(state) is None
    assert state.sandboxes[0].adopted == ADOPTED
    assert state.to_dict()["sandboxes"][0]["adopted"] == ADOPTED


def test_a_sandbox_netctl_made_writes_no_adoption_keys():
    """Earlier netctl refuses unknown keys (exit 8): a state without adoptions must not
    carry them, and one with an adopted sandbox is refused by it rather than misread
    (it would delete the adopted namespace at rm)."""
    table = Sandbox("web", "a" * 64, "2026-01-01T00:00:00+00:00").__dict__
    assert table["adopted"] is None and table["hosts_file"] is None
    from netctl.model import State

    out = State(sandboxes=[Sandbox("web", "a" * 64, "2026-01-01T00:00:00+00:00")]).to_dict()
    assert "adopted" not in out["sandboxes"][0] and "hosts_file" not in out["sandboxes"][0]


HOSTILE = [
    ({"extra": 1}, "adopted: unknown key 'extra'"),
    ({"cookie": None}, "adopted: cookie missing"),
    ({"bound": 2}, "bound must be 0 or 1"),
    ({"ino": 0}, "invalid namespace identity"),
    ({"start": None}, "pid and start go together"),
    ({"pid": 0}, "invalid process"),
]


@pytest.mark.parametrize(("changes", "message"), HOSTILE, ids=[m for _, m in HOSTILE])
def test_an_inconsistent_adoption_is_refused(tmp_path, changes, message):
    doc = _adopted_document()
    adopted = doc["sandboxes"][0]["adopted"]
    for key, value in changes.items():
        if value is None:
            del adopted[key]
        else:
            adopted[key] = value
    err = str(refused_unchanged(tmp_path / "state.toml", tomli_w.dumps(doc).encode()))
    assert "inconsistent state file" in err and message in err, err


@pytest.mark.parametrize(("adopted", "hosts_file", "message"), [
    (False, "/srv/hosts", "hosts_file without an adopted namespace"),
    (True, "relative/hosts", "invalid --hosts-file"),
    (True, "/srv/../etc/shadow", "invalid --hosts-file"),
])
def test_a_hosts_file_is_held_to_its_rules(tmp_path, adopted, hosts_file, message):
    doc = _adopted_document() if adopted else _good_document()
    doc["sandboxes"][0]["hosts_file"] = hosts_file
    err = str(refused_unchanged(tmp_path / "state.toml", tomli_w.dumps(doc).encode()))
    assert message in err, err


def test_a_wrongly_typed_adoption_is_refused(tmp_path):
    doc = _good_document()
    doc["sandboxes"][0]["adopted"] = {"ino": "1"}
    err = str(refused_unchanged(tmp_path / "state.toml", tomli_w.dumps(doc).encode()))
    assert "Sandbox.adopted" in err, err


def test_netctl_owns_only_default_routes_through_its_interfaces():
    theirs = Route("default", gateway="10.99.0.1", dev="own0", family=4)
    ours = Route("default", gateway="10.77.0.1", dev="eth0", family=4)
    ours6 = Route("default", gateway="fd00::1", dev="eth0", family=6)
    # the namespace routes IPv4 itself: netctl keeps out of IPv4, still owns IPv6
    assert own_defaults([theirs], [ours, ours6], {"eth0"}) == ([], [ours6])
    # only its own routes are netctl's to change; with none of theirs it routes as usual
    assert own_defaults([ours], [ours, ours6], {"eth0"}) == ([ours], [ours, ours6])
