"""netctl.store: the state file's lock, schema check and atomic save (DESIGN.md "State")."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
import tomllib
from dataclasses import fields

import pytest
import tomli_w

from netctl import model
from netctl.errors import Busy, NetctlError, StateError
from netctl.model import Endpoint, Network, Sandbox, State, Subnet
from netctl.store import Store, dump


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state.toml"


def full_state() -> State:
    net = Network(
        "web", "a" * 64, "bridge", "2024-01-01T00:00:00+00:00",
        subnets=[Subnet("172.18.0.0/16", gateway="172.18.0.1", ip_range="172.18.5.0/24",
                        aux_addresses={"router": "172.18.0.9"}),
                 Subnet("fd00:1::/64", gateway="fd00:1::1")],
        ipv6=True, labels={"team": "net"}, options={"mtu": "1400", "icc": "false"}, bridge="br-aaaaaaaaaaaa",
    )
    sb = Sandbox("box", "b" * 64, "2024-01-01T00:00:01+00:00", hostname="box.example.com",
                 dns=["1.1.1.1"], dns_search=["example.com"], dns_options=["ndots:2"],
                 extra_hosts=["db:10.0.0.5"], ifindexes={"eth": 1, "net": 3})
    ep = Endpoint("e1", "c" * 64, net.id, "2024-01-01T00:00:02+00:00", mac="02:42:ac:12:00:02",
                  ipv4="172.18.0.2/16", ipv6="fd00:1::2/64", link_local=["169.254.1.1/16"],
                  aliases=["api"], host_ifname="veth1234567", sandbox=sb.id, ifname="eth0", priority=5)
    return State(pool_index=4, ula_prefix="fd12:3456:789a::/48",
                 networks=[net], endpoints=[ep], sandboxes=[sb])


def refused_unchanged(path, data: bytes) -> StateError:
    """Write ``data``, check that read() and locked() refuse it with exit 8 and leave it alone."""
    path.write_bytes(data)
    with pytest.raises(StateError) as info:
        Store(path).read()
    assert info.value.exit_code == 8
    with pytest.raises(StateError), Store(path, lock_timeout=0).locked():
        pass
    with pytest.raises(StateError), Store(path, lock_timeout=0).locked():  # lock was released
        pass
    assert path.read_bytes() == data
    return info.value


# ---------------------------------------------------------------------------------------------
# reading and saving


def test_missing_file_reads_as_empty_state(path):
    assert Store(path).read() == State()
    assert not path.exists()


def test_save_then_read_round_trips(path):
    state = full_state()
    Store(path).save(state)
    assert Store(path).read() == state
    assert tomllib.loads(path.read_text())["schema"] == 2


def test_empty_state_round_trips(path):
    Store(path).save(State())
    assert Store(path).read() == State()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_saved_file_is_mode_0644(path, umask):
    old = os.umask(umask)
    try:
        Store(path).save(full_state())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_save_writes_a_temp_file_in_the_same_directory_then_renames(path, monkeypatch):
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        assert os.path.exists(src)
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    path.write_bytes(dump(State()))
    Store(path).save(full_state())
    ((src, dst),) = renames
    assert os.path.dirname(src) == str(path.parent) and dst == str(path)
    assert os.path.basename(src) != path.name
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]  # no leftovers


def test_failed_save_leaves_the_old_file_and_no_temp(path, monkeypatch):
    Store(path).save(State(pool_index=1))
    before = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(NetctlError) as info:  # the error names the file (issue 8 §4)
        Store(path).save(full_state())
    assert str(info.value) == f"{path}: cannot save the state: No space left on device"
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]


def test_save_of_unchanged_data_does_not_rewrite(path):
    Store(path).save(full_state())
    before = os.stat(path)
    store = Store(path)
    store.save(store.read())  # a fresh reader saving what it read
    store.save(full_state())  # and again, from an equal object
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_save_of_changed_data_replaces_the_file(path):
    store = Store(path)
    store.save(State())
    before = os.stat(path)
    state = store.read()
    state.pool_index = 7
    store.save(state)
    assert os.stat(path).st_ino != before.st_ino
    assert Store(path).read().pool_index == 7


# ---------------------------------------------------------------------------------------------
# files that are refused, byte-for-byte untouched


@pytest.mark.parametrize(
    "data",
    [b"schema = 1\nnetworks = [[[", b"schema = 1\nschema = 1\n", b"\xff\xfe\x00garbage", b"[networks\n"],
)
def test_unparseable_file_is_refused(path, data):
    assert "cannot parse" in str(refused_unchanged(path, data))


def test_newer_schema_is_refused(path):
    err = refused_unchanged(path, b'schema = 3\n[[networks]]\nname = "x"\n')
    assert "newer netctl" in str(err)


@pytest.mark.parametrize(
    "data",
    [b"", b"pool_index = 0\n", b'schema = "1"\n', b"schema = 0\n", b"schema = true\n", b"schema = 1.0\n"],
)
def test_missing_or_unknown_schema_is_refused(path, data):
    assert "schema" in str(refused_unchanged(path, data))


def _good_document() -> dict:
    return tomllib.loads(dump(full_state()).decode())


DELETE = object()


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("pool_index",), "0"),
        (("pool_index",), 1.5),
        (("pool_index",), True),
        (("ula_prefix",), 5),
        (("networks",), "web"),
        (("networks",), {}),
        (("networks",), [1]),
        (("networks", 0), "web"),
        (("networks", 0, "id"), DELETE),
        (("networks", 0, "name"), 1),
        (("networks", 0, "ipv6"), "yes"),
        (("networks", 0, "labels"), {"team": 1}),
        (("networks", 0, "labels"), ["team"]),
        (("networks", 0, "options"), "mtu=1400"),
        (("networks", 0, "bridge_adopted"), 0),
        (("networks", 0, "subnets"), "172.18.0.0/16"),
        (("networks", 0, "subnets", 0), "172.18.0.0/16"),
        (("networks", 0, "subnets", 0, "subnet"), DELETE),
        (("networks", 0, "subnets", 0, "gateway"), 1),
        (("networks", 0, "subnets", 0, "aux_addresses"), {"router": 9}),
        (("endpoints", 0, "network"), ["a"]),
        (("endpoints", 0, "aliases"), "api"),
        (("endpoints", 0, "link_local"), [1]),
        (("endpoints", 0, "priority"), "5"),
        (("endpoints", 0, "sandbox"), 0),
        (("sandboxes",), {"box": {}}),
        (("sandboxes", 0, "dns"), "1.1.1.1"),
        (("sandboxes", 0, "next_ifindex"), 1.0),
        (("sandboxes", 0, "ifindexes"), {"eth": "1"}),
        (("sandboxes", 0, "created"), DELETE),
    ],
)
def test_wrong_types_are_refused(path, where, value):
    doc = _good_document()
    *parents, last = where
    target = doc
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    assert "malformed" in str(refused_unchanged(path, tomli_w.dumps(doc).encode()))


def test_the_good_document_itself_loads(path):
    """The wrong-type cases above differ from this document in one value only."""
    path.write_bytes(tomli_w.dumps(_good_document()).encode())
    assert Store(path).read() == full_state()


def test_every_model_field_has_a_type_check():
    """A new field with an annotation the loader cannot check would slip wrong types through."""
    nested = {"list[Subnet]", "list[Network]", "list[Endpoint]", "list[Sandbox]"}
    for cls in (Subnet, Network, Endpoint, Sandbox, State):
        for f in fields(cls):
            assert f.type in model._CHECKS or f.type in nested, (cls.__name__, f.name, f.type)


def test_symlink_is_refused_even_to_a_good_file(path, tmp_path):
    real = tmp_path / "real.toml"
    real.write_bytes(dump(full_state()))
    path.symlink_to(real)
    with pytest.raises(StateError) as info:
        Store(path).read()
    assert info.value.exit_code == 8 and "symlink" in str(info.value)
    with pytest.raises(StateError), Store(path, lock_timeout=0).locked():
        pass
    assert path.is_symlink() and real.read_bytes() == dump(full_state())


def test_dangling_symlink_is_refused(path, tmp_path):
    path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(StateError):
        Store(path).read()


def test_directory_is_refused(path):
    path.mkdir()
    with pytest.raises(StateError) as info:
        Store(path).read()
    assert info.value.exit_code == 8
    with pytest.raises(StateError), Store(path, lock_timeout=0).locked():
        pass
    assert path.is_dir()


def test_symlinked_lock_file_is_refused(path, tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "state.toml.lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StateError), Store(path, lock_timeout=0).locked():
        pass
    assert (tmp_path / "elsewhere").read_text() == ""


# ---------------------------------------------------------------------------------------------
# the lock

HOLD = """
import sys
from netctl.store import Store
with Store(sys.argv[1]).locked():
    print("held", flush=True)
    sys.stdin.readline()
"""


@contextlib.contextmanager
def held_by_another_process(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "held\n"
        yield proc
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


def test_locked_yields_the_state_and_saves_inside(path):
    Store(path).save(State(pool_index=2))
    store = Store(path)
    with store.locked() as state:
        assert state.pool_index == 2
        state.pool_index = 3
        store.save(state)
    assert Store(path).read().pool_index == 3
    assert stat.S_IMODE(os.stat(store.lock_path).st_mode) == 0o644
    assert store.lock_path == path.parent / "state.toml.lock"


def test_locked_creates_the_state_directory(tmp_path):
    store = Store(tmp_path / "new" / "dir" / "state.toml")
    with store.locked() as state:
        assert state == State()
    assert (tmp_path / "new" / "dir" / "state.toml.lock").exists()


def test_second_locker_gets_busy_after_the_timeout(path):
    with held_by_another_process(path) as proc:
        with pytest.raises(Busy) as info, Store(path, lock_timeout=0.3).locked():
            pytest.fail("got the lock while another process held it")
        assert info.value.exit_code == 7
        assert "0.3s" in str(info.value)
        assert Store(path).lock_holder() == proc.pid
    assert Store(path).lock_holder() is None
    with Store(path, lock_timeout=0).locked():  # free again
        pass


def test_locker_waits_for_the_holder_to_finish(path):
    with held_by_another_process(path) as proc:
        release = threading.Timer(0.3, proc.stdin.close)
        release.start()
        try:
            with Store(path, lock_timeout=30).locked():
                assert proc.stdin.closed  # we got in only after the holder was told to let go
                assert proc.wait(timeout=30) == 0
                assert Store(path).lock_holder() == os.getpid()
        finally:
            release.cancel()


def test_lock_holder_without_a_holder(path):
    assert Store(path).lock_holder() is None  # no lock file at all
    with Store(path).locked():
        pass
    assert Store(path).lock_holder() is None  # lock file left, nobody holds it


def test_lock_holder_reports_this_process(path):
    with Store(path).locked():
        assert Store(path).lock_holder() == os.getpid()
        assert (path.parent / "state.toml.lock").read_text() == f"{os.getpid()}\n"
