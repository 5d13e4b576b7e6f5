"""Bad input never hurts: generated arguments for every command, over the fake kernel.

Hypothesis builds argument lists for every command (names in any script, 16+ and 64+ chars,
slashes, dots, empty, a leading '-', whitespace and control characters, lone surrogates as a
non-UTF-8 argv decodes to; CIDRs, addresses, MACs, MTUs, labels, options, ls filters and
formats), mixed with the names of objects that exist so the success paths are reached too.
Each case runs the CLI in-process against the same starting state and must exit 0, or 2-5
with exactly one ``netctl: ...`` line on stderr and no traceback; when it fails the state
file, the fake kernel file and the /etc/netns stand-in are byte-for-byte unchanged.

Default runs try a fixed, derandomised ~20 cases per command group; ``-m stress`` runs the
``*_stress`` twins with ``NETCTL_FUZZ_EXAMPLES`` cases per group (default 800, 14 groups:
11,200 cases), randomised.

The second half puts hostile state files under every kind of command: corrupt, truncated,
a newer schema, a symlink, a directory, and (as an unprivileged user) an unwritable directory
or an unreadable file.
"""

from __future__ import annotations

import json
import os
import stat
from ipaddress import ip_network
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import forkrun

from netctl.store import dump, parse

DEFAULT_EXAMPLES = 20
STRESS_EXAMPLES = int(os.environ.get("NETCTL_FUZZ_EXAMPLES", "800"))
TRIED: dict[str, int] = {}


@pytest.fixture
def tmp_path(tmpfs_path):
    """Thousands of small writes: on tmpfs when there is one (tests/unit/conftest.py)."""
    return tmpfs_path


# --- generated values ---------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # includes controls and lone surrogates
EDGE_NAMES = [
    "", " ", "-", "-x", "--", "---x", ".", "..", "../x", "../../etc/passwd", "a/b", "/", "a\\b",
    "x" * 15, "x" * 16, "x" * 64, "x" * 65, "é", "ä" * 16, "名前", "a b", " a", "a ", "a\nb", "a\x00b",
    "\t", "a.", ".a", "_a", "a_", "web", "box", "box2", "free", "v6", "nul", "0", "1" * 12, "ffff",
    "web/free", "web/box", "-f", "--force", "-h", "--help", "a" * 4096,
]
EXISTING = ["web", "v6", "nul", "box", "box2", "free", "web/free", "web/box"]
names = st.one_of(
    st.sampled_from(EDGE_NAMES),
    st.text(ANY_CHAR, max_size=70),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True),
    st.text("abé./-_ \n\t:=@", max_size=20),
)
refs = st.one_of(st.sampled_from(EXISTING), names)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)
garbage = st.text(ANY_CHAR, max_size=30)
cidrs = st.one_of(
    st.builds(lambda a, p: f"{a}/{p}", v4, st.integers(-1, 40)),
    st.builds(lambda a, p: f"{a}/{p}", v6, st.integers(-1, 140)),
    st.builds(lambda a, p: str(ip_network(f"{a}/{p}", strict=False)), v4, st.integers(8, 30)),
    st.builds(lambda a, p: str(ip_network(f"{a}/{p}", strict=False)), v6, st.integers(48, 126)),
    st.sampled_from(["", "10.0.0.0", "10.0.0.0/", "/24", "10.0.0.0/8/8", "300.1.1.1/24", "10.10.0.0/24",
                     "10.10.0.128/25", "0.0.0.0/0", "::/0", "fe80::/64", "127.0.0.0/8", "224.0.0.0/4",
                     "10.0.0.0/31", "10.0.0.0/32", "fd00::/127", " 10.0.0.0/24", "10.0.0.0/24 ",
                     "10.0.0.0/024", "10.0.0.0/255.255.255.0", "172.17.0.0/16", "10.99.0.0/16"]),
    garbage,
)
addresses = st.one_of(
    v4, v6,
    st.sampled_from(["", "10.10.0.1", "10.10.0.0", "10.10.0.255", "10.10.0.2", "10.10.0.3", "10.99.0.5",
                     "::", "::1", "fe80::1%eth0", "1.2.3", "01.02.03.04", "0.0.0.0", "255.255.255.255",
                     "169.254.1.1", "169.254.0.0", "fe80::5", "10.10.0.1/24", " 10.10.0.9"]),
    garbage,
)
macs = st.one_of(
    st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b)),
    st.sampled_from(["", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:00:5e:00:00:01", "02:42:0a:0a:00:02",
                     "0:1:2:3:4:5", "02-42-00-00-00-01", "02:42:00:00:00:01:02", "02:42:00:00:00",
                     "02:42:ZZ:00:00:01", "02:42:00:00:00:01 "]),
    garbage,
)
mtus = st.one_of(st.integers(-10, 100_000).map(str),
                 st.sampled_from(["", "abc", "1e3", "0x500", " 1500", "1500.0", "67", "68", "65535", "65536",
                                  "99999999999999999999999"]),
                 garbage)
OPTION_KEYS = ["mtu", "bridge", "icc", "masquerade", "host_ip", "iface_prefix", "hairpin", "ipv6_from_mac",
               "com.docker.network.driver.mtu", "com.docker.network.bridge.name", "bogus", ""]
options = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(OPTION_KEYS),
              st.one_of(mtus, names, addresses,
                        st.sampled_from(["true", "false", "yes", "0", "TRUE", "maybe"]))),
    garbage,
)
labels = st.one_of(st.builds(lambda k, v: f"{k}={v}", names, st.text(ANY_CHAR, max_size=20)),
                   st.sampled_from(["=v", "k", "k=", "k==v", "a/b=c", "-k=v"]), garbage)
FORMATS = ["json", "table", "", "{name}", "{id}", "{nosuch}", "{", "}", "{{}}", "{0}", "{}", "{name!r}",
           "{name!x}", "{name:>10}", "{name:d}", "{name.upper}", "{name[0]}", "{name[99]}",
           "{subnets[0][subnet]}", "{labels[team]}", "{name:{name}}", "{name:>99999999999999999999}",
           "\\t{name}\\n", "{name.__class__}", "{endpoints}", "{ipv4} {mac}"]
formats = st.one_of(st.sampled_from(FORMATS), st.text(ANY_CHAR, max_size=20))
filters = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["driver", "label", "name", "id", ""]),
              st.one_of(names, st.sampled_from(["bridge", "*", "[", "w?b", "team=a", "team"]))),
    garbage,
)


def opt(flag: str, values, max_size: int = 2):
    return st.lists(values, max_size=max_size).map(lambda vs: [x for v in vs for x in (flag, v)])


def flag(*flags: str):
    return st.lists(st.sampled_from(flags), max_size=len(flags), unique=True)


def argv(*parts):
    """Concatenate fixed words and generated lists into one argv."""
    def join(values):
        out: list[str] = []
        for v in values:
            out.extend(v if isinstance(v, list) else [v])
        return out
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts]).map(join)


GROUPS = {
    "network-create": argv("network", "create", names, opt("--driver", st.one_of(
        st.sampled_from(["bridge", "null", "host", "overlay", ""]), names), 1),
        opt("--subnet", cidrs), opt("--gateway", addresses), opt("--ip-range", cidrs, 1),
        opt("--aux-address", st.builds(lambda n, a: f"{n}={a}", names, addresses), 1),
        flag("--ipv6", "--internal", "--ignore"), opt("--label", labels), opt("-o", options)),
    "network-rm-inspect-exists": argv("network", st.sampled_from(["rm", "inspect", "exists"]), refs,
                                      flag("-f"), opt("--format", formats, 1)),
    "network-connect": argv("network", "connect", refs, refs, opt("--name", names, 1),
                            opt("--ip", addresses, 1), opt("--ip6", addresses, 1), opt("--mac", macs, 1),
                            opt("--alias", names), opt("--link-local-ip", addresses),
                            opt("--priority", st.one_of(st.integers(-(2**70), 2**70).map(str), garbage), 1)),
    "network-disconnect": argv("network", "disconnect", refs, refs, flag("-f")),
    "network-ls": argv("network", "ls", opt("--filter", filters, 3), opt("--format", formats, 1), flag("-q")),
    "endpoint-create": argv("endpoint", "create", refs, names, opt("--ip", addresses, 1),
                            opt("--ip6", addresses, 1), opt("--mac", macs, 1),
                            opt("--link-local-ip", addresses), opt("--alias", names)),
    "endpoint-join-leave": argv("endpoint", st.sampled_from(["join", "leave"]), refs, refs,
                                opt("--priority", st.integers(-5, 5).map(str), 1)),
    "endpoint-rm-inspect": argv("endpoint", st.sampled_from(["rm", "inspect"]), refs, flag("-f"),
                                opt("--format", formats, 1)),
    "endpoint-ls": argv("endpoint", "ls", opt("--network", refs, 1), opt("--format", formats, 1), flag("-q")),
    "sandbox-create": argv("sandbox", "create", names, opt("--hostname", names, 1), opt("--dns", addresses),
                           opt("--dns-search", names), opt("--dns-option", st.one_of(names, garbage)),
                           opt("--add-host", st.one_of(st.builds(lambda n, a: f"{n}:{a}", names, addresses),
                                                       garbage))),
    "sandbox-rm-inspect": argv("sandbox", st.sampled_from(["rm", "inspect"]), refs, flag("-f"),
                               opt("--format", formats, 1)),
    "sandbox-ls": argv("sandbox", "ls", opt("--format", formats, 1), flag("-q")),
    "any-words": st.lists(st.one_of(names, st.sampled_from([
        "network", "endpoint", "sandbox", "ls", "create", "rm", "connect", "-f", "--format", "--state",
        "--lock-timeout"])), max_size=6),
    "global-options": argv(opt("--lock-timeout", st.one_of(mtus, st.sampled_from(["-1", "nan", "inf"])), 1),
                           st.sampled_from([["network", "ls"], ["sandbox", "create", "sx"],
                                            ["network", "create", "nx"]])),
}
READ_ONLY = ("ls", "inspect", "exists")


class World:
    """The starting state every case runs against, restored before each case."""

    def __init__(self, cli):
        self.cli = cli
        for args in (["network", "create", "web", "--subnet", "10.10.0.0/24", "--label", "team=a"],
                     ["network", "create", "v6", "--ipv6"], ["network", "create", "nul", "--driver", "null"],
                     ["sandbox", "create", "box"], ["sandbox", "create", "box2"],
                     ["network", "connect", "web", "box"], ["endpoint", "create", "web", "free"]):
            cli.ok(*args)
        self.state = cli.state.read_bytes()
        self.kernel = cli.kernel_file.read_bytes()

    def restore(self) -> None:
        self.cli.state.write_bytes(self.state)
        self.cli.kernel_file.write_bytes(self.kernel)

    def files(self) -> dict[str, bytes]:
        out = {"state": self.cli.state.read_bytes(), "kernel": self.cli.kernel_file.read_bytes()}
        for root, _dirs, found in os.walk(self.cli.etc):
            for name in found:
                out[os.path.join(root, name)] = Path(root, name).read_bytes()
        return out

    def check(self, args: list[str]) -> None:
        self.restore()
        before = self.files()
        res = self.cli(*args)
        shown = f"netctl {args!r} -> {res.code}\nstdout: {res.out[:300]!r}\nstderr: {res.err!r}"
        assert "Traceback" not in res.err, shown
        assert res.code in (0, 2, 3, 4, 5), shown
        if res.code == 3 and _command(args)[:2] == ["network", "exists"]:
            assert res.err == "", shown  # documented: "exit 3 if not, prints nothing"
        elif res.code == 2 and len(_command(args)) <= 1 and res.err.startswith("Usage:"):
            pass  # netctl / netctl NOUN alone: the help, as usage
        elif res.code != 0:
            lines = res.err.splitlines(keepends=True)
            assert lines and all(x.startswith("netctl: ") and x.endswith("\n") for x in lines), shown
            # one line; commands taking several names (rm, inspect) report each failed one
            several = _command(args)[1:2] in (["rm"], ["inspect"]) and len(lines) <= len(args)
            assert len(lines) == 1 or several, shown
            assert self.files() == before, "a refused command changed something: " + shown
        else:
            data = self.cli.state.read_bytes()
            assert dump(parse(data, self.cli.state)) == data, shown
            if any(word in args for word in READ_ONLY) and "create" not in args:
                assert self.files() == before, shown
        assert not list(self.cli.state.parent.glob(".state.toml.*.tmp")), shown


def _command(args: list[str]) -> list[str]:
    """The words after the global options."""
    words = list(args)
    while words[:1] and words[0] in ("--state", "--lock-timeout"):
        words = words[2:]
    return words


def fuzz(cli, group: str, examples: int, derandomize: bool) -> None:
    world = World(cli)
    count = 0

    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))
    @given(args=GROUPS[group])
    def case(args):
        nonlocal count
        count += 1
        world.check(args)

    case()
    TRIED[group] = TRIED.get(group, 0) + count
    print(f"fuzz {group}: {count} cases")


@pytest.mark.parametrize("group", list(GROUPS))
def test_generated_input_never_hurts(cli, group):
    fuzz(cli, group, DEFAULT_EXAMPLES, derandomize=True)


@pytest.mark.stress
@pytest.mark.parametrize("group", list(GROUPS))
def test_generated_input_never_hurts_stress(cli, group):
    fuzz(cli, group, STRESS_EXAMPLES, derandomize=False)


@pytest.mark.parametrize("args", [
    ["network", "create", "n2", "--label", "k=\udcff"],
    ["network", "create", "n2", "--subnet", "10.5.0.0/24", "--aux-address", "\udcff=10.5.0.9"],
    ["sandbox", "create", "s2", "--dns-option", "ndots:\udcff"],
    ["network", "ls", "--format", "\udcff{name}"],
    ["sandbox", "inspect", "box", "--format", "{name}\udcfe"],
    ["network", "connect", "web", "box2", "--alias", "\udcff"],
])
def test_arguments_that_are_not_utf8_are_invalid_input(world, args):
    """A non-UTF-8 argv decodes to lone surrogates, which can be neither saved nor printed:
    found by the stress run (exit 1, "unexpected error: UnicodeEncodeError", after the kernel
    work) before validate.is_utf8 refused them up front."""
    world.check(args)
    res = world.cli(*args)
    assert res.code == 2 and ("UTF-8" in res.err or "invalid" in res.err), res.err


# --- hostile state files ------------------------------------------------------------------

COMMANDS = [
    ["network", "ls"], ["network", "inspect", "web"], ["sandbox", "ls"], ["endpoint", "ls"],
    ["network", "create", "n2"], ["sandbox", "create", "s2"], ["network", "connect", "web", "box2"],
    ["endpoint", "create", "web", "e2"], ["network", "rm", "-f", "web"], ["sandbox", "rm", "-f", "box"],
]


@pytest.fixture
def world(cli):
    return World(cli)


def _refused(cli, args, code: int, words: str) -> None:
    res = cli(*args)
    assert res.code == code, f"{args} -> {res.code}: {res.err}"
    assert res.err.startswith("netctl: ") and res.err.count("\n") == 1 and words in res.err, res.err
    assert "Traceback" not in res.err


CORRUPT = {
    "garbage": b"\x00\xff\xfe not toml at all",
    "not-utf8": b'schema = 1\nname = "\xff"\n',
    "bad-toml": b"schema = 1\n[[networks]\nname = 'x'\n",
    "no-schema": b"networks = []\n",
    "newer-schema": b"schema = 3\n",
    "string-schema": b'schema = "1"\n',
    "float-schema": b"schema = 1.0\n",
    "wrong-types": b"schema = 1\nnetworks = 5\n",
    "bad-network": b"schema = 1\n[[networks]]\nname = 1\n",
    "empty-network": b"schema = 1\n[[networks]]\n",
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_corrupt_state_is_refused_and_left_alone(world, kind):
    cli = world.cli
    cli.state.write_bytes(CORRUPT[kind])
    kernel = cli.kernel_file.read_bytes()
    for args in COMMANDS:
        _refused(cli, args, 8, str(cli.state))
        assert cli.state.read_bytes() == CORRUPT[kind] and cli.kernel_file.read_bytes() == kernel
    assert not list(cli.state.parent.glob(".state.toml.*.tmp"))


def test_truncated_state_is_refused_or_read_as_what_it_says(world):
    """Atomic saves never truncate, but a truncated file (a disk full, a bad copy) must not be
    overwritten: every prefix either parses as a state (then it is one) or is refused."""
    cli, full = world.cli, world.state
    kernel = cli.kernel_file.read_bytes()
    cuts = sorted({*range(0, len(full), max(1, len(full) // 40)), len(full) - 1, len(full) // 2})
    refused = 0
    for cut in cuts:
        data = full[:cut]
        cli.state.write_bytes(data)
        try:
            parse(data, cli.state)
        except Exception:  # noqa: BLE001 - netctl must refuse it
            for args in (["network", "ls"], ["network", "create", "n2"], ["sandbox", "rm", "-f", "box"]):
                _refused(cli, args, 8, str(cli.state))
                assert cli.state.read_bytes() == data and cli.kernel_file.read_bytes() == kernel
            refused += 1
        else:
            assert cli("network", "ls").code == 0
    assert refused >= len(cuts) // 2


def test_state_path_that_is_a_symlink_is_refused(world, tmp_path):
    cli = world.cli
    target = tmp_path / "elsewhere.toml"
    target.write_bytes(world.state)
    cli.state.unlink()
    cli.state.symlink_to(target)
    for args in COMMANDS:
        _refused(cli, args, 8, "symlink")
        assert cli.state.is_symlink() and target.read_bytes() == world.state
    dangling = tmp_path / "nowhere.toml"
    cli.state.unlink()
    cli.state.symlink_to(dangling)
    for args in COMMANDS:
        _refused(cli, args, 8, "symlink")
    assert not dangling.exists() and cli.state.is_symlink()


def test_state_path_that_is_a_directory_is_refused(world):
    cli = world.cli
    cli.state.unlink()
    cli.state.mkdir()
    (cli.state / "keep").write_text("x")
    for args in COMMANDS:
        _refused(cli, args, 8, str(cli.state))
    assert cli.state.is_dir() and os.listdir(cli.state) == ["keep"]


def test_lock_path_that_is_a_symlink_is_not_followed(world, tmp_path):
    cli = world.cli
    target = tmp_path / "victim"
    target.write_text("precious\n")
    lock = cli.state.with_name(cli.state.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(target)
    res = cli("network", "create", "n2")
    assert res.code in (6, 8) and res.err.count("\n") == 1, res.err
    assert target.read_text() == "precious\n" and cli.state.read_bytes() == world.state
    assert cli("network", "ls").code == 0  # readers take no lock


# --- as an unprivileged user: run in a forked child that drops to nobody ------------------

def _as_nobody(cli, args: list[str]) -> tuple[int, str]:
    """The CLI in a forked child running as uid/gid 65534 (or as this non-root user), with this
    process's environment (the cli fixture's); its exit code and stderr."""
    forkrun.preload("support.fakekernel")
    code, _, err = forkrun.run(args, dict(os.environ), forkrun.become_nobody if os.geteuid() == 0 else None)
    return code, err


@pytest.fixture
def shared_world(world, tmp_path):
    """The world's files in a directory an unprivileged child can reach; kernel file writable."""
    if os.geteuid() == 0:
        os.chmod(tmp_path, 0o755)
        for path in (tmp_path, *tmp_path.parents):
            if path == Path("/"):
                break
            if not os.stat(path).st_mode & stat.S_IXOTH:
                pytest.skip(f"{path} is not traversable by other users")
        os.chmod(world.cli.kernel_file, 0o666)
        os.chmod(world.cli.kernel_file.parent, 0o777)  # the fake kernel saves with a rename
        os.chmod(world.cli.etc, 0o777)  # the /etc/netns stand-in: the save is what must fail
    return world


def _kernel_view(cli) -> dict:
    """The fake kernel's namespaces, links and routes (not its next-ifindex counter, which
    a create that was rolled back has advanced, as the real kernel's does)."""
    data = json.loads(cli.kernel_file.read_text())
    data.pop("next_index")
    return data


def test_unwritable_state_directory_is_a_clear_permission_error(shared_world, tmp_path):
    cli = shared_world.cli
    state_dir = tmp_path / "statedir"
    state_dir.mkdir(mode=0o755)
    state = state_dir / "state.toml"
    state.write_bytes(shared_world.state)
    os.chmod(state, 0o644)
    os.environ["NETCTL_STATE"] = str(state)  # the cli fixture's monkeypatch restores it
    kernel = _kernel_view(cli)
    lock = state_dir / "state.toml.lock"
    try:
        if os.geteuid() != 0:
            os.chmod(state_dir, 0o555)
        # no lock file and a directory it cannot write: refused before anything happens
        code, err = _as_nobody(cli, ["network", "create", "n2"])
        assert code == 6 and err.count("\n") == 1 and "permission denied" in err, err
        # a lock file it may open, but a directory it cannot save into: the kernel work is undone
        lock.touch()
        os.chmod(lock, 0o666)
        for args in (["network", "create", "n2"], ["sandbox", "create", "s2"],
                     ["network", "connect", "web", "box2"]):
            code, err = _as_nobody(cli, args)
            assert code == 6 and err.count("\n") == 1 and "permission denied" in err.lower(), (args, err)
            assert state.read_bytes() == shared_world.state
            assert _kernel_view(cli) == kernel, f"{args}: kernel steps were not undone"
        assert sorted(os.listdir(state_dir)) == ["state.toml", "state.toml.lock"]
        # reading needs no lock and no write access
        code, err = _as_nobody(cli, ["network", "ls"])
        assert code == 0, err
    finally:
        os.chmod(state_dir, 0o755)


def test_unreadable_state_file_is_a_clear_permission_error(shared_world):
    cli = shared_world.cli
    os.chmod(cli.state, 0o600 if os.geteuid() == 0 else 0o000)
    try:
        for args in (["network", "ls"], ["sandbox", "inspect", "box"], ["network", "create", "n2"]):
            code, err = _as_nobody(cli, args)
            assert code == 6 and err.count("\n") == 1 and "permission denied" in err, (args, err)
    finally:
        os.chmod(cli.state, 0o644)
    assert cli.state.read_bytes() == shared_world.state


def test_a_refused_writer_never_leaves_the_lock_held(world):
    """After a refusal the lock is free again: a zero-timeout writer gets it at once."""
    cli = world.cli
    cli.state.write_bytes(CORRUPT["bad-toml"])
    _refused(cli, ["network", "create", "n2"], 8, "parse")
    cli.state.write_bytes(world.state)
    assert cli("--lock-timeout", "0", "network", "create", "n2").code == 0
