"""netctl.statecache: a large state's parse cache is a shortcut the TOML file always overrules."""

from __future__ import annotations

import json
import os
import tomllib

import pytest

from netctl import statecache, store
from netctl.model import Endpoint, Network, Sandbox, State, Subnet, new_id
from netctl.store import Store


def big_state(n: int = 400) -> State:
    net = Network("big", new_id(), "bridge", "t", subnets=[Subnet("10.50.0.0/16", "10.50.0.1")],
                  bridge="br-big")
    state = State(state_id="0123456789abcdef", networks=[net])
    for i in range(n):
        sb = Sandbox(f"s{i}", new_id(), "t")
        state.sandboxes.append(sb)
        ip = f"10.50.{i // 250}.{i % 250 + 2}/16"
        state.endpoints.append(Endpoint(f"s{i}", new_id(), net.id, "t", ipv4=ip, sandbox=sb.id))
    return state


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state.toml"


def test_a_large_state_is_read_from_the_cache_after_a_save(path, monkeypatch):
    state = big_state()
    Store(path).save(state)
    assert path.stat().st_size >= statecache.MIN_SIZE
    assert statecache.path_for(path).exists()
    monkeypatch.setattr(tomllib, "loads", lambda *_a, **_k: pytest.fail("parsed the TOML"))
    assert Store(path).read() == state


def test_a_small_state_gets_no_cache(path):
    Store(path).save(State(pool_index=3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]


def test_a_state_that_shrinks_drops_its_cache(path):
    Store(path).save(big_state())
    Store(path).save(State(pool_index=3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]


def test_an_edited_file_is_parsed_again_even_with_the_same_size_and_mtime(path):
    Store(path).save(big_state())
    info = path.stat()
    text = path.read_bytes()
    edited = text.replace(b'"s7"', b'"x7"')
    assert len(edited) == len(text)
    path.write_bytes(edited)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    names = {sb.name for sb in Store(path).read().sandboxes}
    assert "x7" in names and "s7" not in names


def test_a_cache_that_lies_is_not_believed(path):
    """A cache whose digest matches no longer matches once the file changed; one that was
    hand-edited to say something else keeps its digest only for the bytes it was made from."""
    Store(path).save(big_state())
    cache = statecache.path_for(path)
    doc = json.loads(cache.read_bytes())
    doc["state"]["sandboxes"][0]["name"] = "evil"
    doc["blake2b"] = "0" * 64
    cache.write_text(json.dumps(doc))
    assert "evil" not in {sb.name for sb in Store(path).read().sandboxes}


@pytest.mark.parametrize("junk", [b"", b"{", b"[]", b'{"version": 1}', b"\xff\xfe"])
def test_a_broken_cache_is_ignored(path, junk):
    state = big_state()
    Store(path).save(state)
    statecache.path_for(path).write_bytes(junk)
    assert Store(path).read() == state


def test_a_symlinked_cache_is_ignored(path, tmp_path):
    state = big_state()
    Store(path).save(state)
    cache = statecache.path_for(path)
    elsewhere = tmp_path / "elsewhere.json"
    cache.rename(elsewhere)
    cache.symlink_to(elsewhere)
    assert statecache.load(path, path.read_bytes(), path.stat().st_uid) is None
    assert Store(path).read() == state


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_cache_owned_by_someone_else_is_ignored(path):
    Store(path).save(big_state())
    os.chown(statecache.path_for(path), 65534, 65534)
    assert statecache.load(path, path.read_bytes(), path.stat().st_uid) is None


@pytest.mark.parametrize("checked", [None, "0.0.1"], ids=["unmarked", "another-version"])
def test_a_cached_document_not_checked_by_this_netctl_is_held_to_the_same_checks(path, checked):
    """A cache that matches the file's bytes but does not say this netctl checked it (an
    older cache, another version's rules) is only the document: a consistency problem in it
    is refused (exit 8) just as in the file."""
    Store(path).save(big_state())
    text = path.read_bytes()
    doc = tomllib.loads(text.decode())
    doc["endpoints"][1]["ipv4"] = doc["endpoints"][0]["ipv4"]
    statecache.save(path, text, doc)
    cache = statecache.path_for(path)
    raw = json.loads(cache.read_bytes())
    raw.pop("checked")
    if checked:
        raw["checked"] = checked
    cache.write_text(json.dumps(raw))
    with pytest.raises(store.StateError, match="used twice"):
        Store(path).read()


def test_a_document_this_netctl_checked_is_not_checked_again(path, monkeypatch):
    """The consistency checks cost more than the JSON at 1,000 endpoints: a cache hit on
    bytes netctl saved itself skips them; a parse (the file changed) runs them."""
    from netctl import consistency

    calls = []
    real = consistency.first_problem
    monkeypatch.setattr(consistency, "first_problem", lambda st: calls.append(1) or real(st))
    Store(path).save(big_state())
    Store(path).read()
    assert calls == []
    path.write_bytes(path.read_bytes() + b"\n")
    Store(path).read()
    assert calls == [1]


def test_the_lock_holder_caches_a_file_it_had_to_parse(path):
    state = big_state()
    path.write_bytes(store.dump(state))  # as an older netctl (or a restore) left it
    assert not statecache.path_for(path).exists()
    with Store(path).locked():
        pass
    assert statecache.path_for(path).exists()
    assert statecache.load(path, path.read_bytes(), path.stat().st_uid) is not None
