"""DESIGN.md's layering, enforced: which modules may import what, and what the fast paths load."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import fakenetctl

PKG = Path(__file__).resolve().parents[2] / "netctl"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, resolved to absolute 'netctl.x' / 'pyroute2' names."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PKG.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PKG.parent).with_suffix("")).replace("/", "."): _imports(p)
            for p in PKG.rglob("*.py")}


def _offenders(allowed, banned_prefix: str) -> list[str]:
    return sorted(mod for mod, imps in _modules().items()
                  if not allowed(mod) and any(i == banned_prefix or i.startswith(banned_prefix + ".")
                                              for i in imps))


def test_only_the_netlink_module_imports_pyroute2():
    assert _offenders(lambda m: m == "netctl.kernel.netlink", "pyroute2") == []


def test_only_cli_imports_click():
    assert _offenders(lambda m: m.startswith("netctl.cli") or m == "netctl.__main__", "click") == []


def test_only_output_imports_rich():
    assert _offenders(lambda m: m == "netctl.output", "rich") == []


def test_random_names_and_ids_come_from_model_token_bytes():
    """``secrets`` imports hmac and OpenSSL's _hashlib (~5-10 ms of every connect's start;
    model.token_bytes): a driver naming its links with it paid that again."""
    assert _offenders(lambda m: False, "secrets") == []


@pytest.mark.parametrize("leaf", ["netctl.model", "netctl.errors"])
def test_leaves_import_nothing_of_ours(leaf):
    ours = [i for i in _modules()[leaf] if i.startswith("netctl")]
    assert ours == []


@pytest.mark.parametrize("pure", ["netctl.ipam", "netctl.ipam_request", "netctl.validate",
                                  "netctl.hostsfile", "netctl.lookup", "netctl.views",
                                  "netctl.consistency", "netctl.cni.spec", "netctl.cni.netconf",
                                  "netctl.cni.result", "netctl.requests"])
def test_pure_core_does_no_io_imports(pure):
    banned = {"os", "subprocess", "socket", "fcntl", "shutil", "pathlib", "netctl.kernel",
              "netctl.store", "netctl.service", "netctl.etcfiles"}
    hits = [i for i in _modules()[pure] if i in banned or any(i.startswith(b + ".") for b in banned)]
    assert hits == []


def _shipped() -> list[Path]:
    """The files ``pip install .`` puts in the wheel: pyproject's package discovery, run."""
    import tomllib

    from setuptools import find_packages

    root = PKG.parent
    found = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_packages(where=str(root), include=found["include"], exclude=found.get("exclude", ()))
    return [f for p in packages for f in (root / p.replace(".", "/")).iterdir() if f.is_file()]


def test_the_installed_package_has_no_test_double_and_no_test_hook():
    """The fake kernel and FakeNft live in tests/support (fakehooks puts them behind the
    product's factories): nothing shipped may carry them or read a variable that swaps the
    kernel, or an environment could run the installed netctl on a fake."""
    shipped = _shipped()
    assert PKG / "kernel" / "netlink.py" in shipped and not any("tests" in f.parts for f in shipped)
    fakes = [f.name for f in shipped if "fake" in f.name.lower()]
    hooks = [f.name for f in shipped if f.suffix == ".py" and any(
        word in f.read_text() for word in ("NETCTL_FAKE_KERNEL", "FakeKernel", "FakeNft", "FAKE_KERNEL"))]
    assert (fakes, hooks) == ([], [])


def test_drivers_never_touch_the_state_file():
    for mod, imps in _modules().items():
        if mod.startswith("netctl.drivers"):
            assert not any(i.startswith("netctl.store") for i in imps), mod


LOADED = """import sys, json
from netctl.cli import main
try:
    main({args})
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pyroute2', 'rich'))
print(json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [
    ["--help"], ["network", "ls"], ["network", "ls", "--format", "json"], ["endpoint", "ls", "-q"],
    ["sandbox", "ls"], ["network", "inspect", "nosuch"],
    ["status"], ["status", "--format", "json"], ["completion", "bash"],
])
def test_read_paths_load_neither_pyroute2_nor_rich(tmp_path, args):
    env = {**os.environ, "NETCTL_STATE": str(tmp_path / "state.toml")}
    proc = subprocess.run([sys.executable, "-c", LOADED.format(args=args)], env=env,
                          capture_output=True, text=True, check=False)
    loaded = json.loads(proc.stderr.strip().splitlines()[-1])
    assert loaded == [], f"{args} imported {loaded}"


FIREWALL_LOADED = """import sys, json
sys.path.insert(0, {tests!r})
from support import fakehooks
fakehooks.install({kernel!r})
from netctl.cli import main
for args in {argvs}:
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
print(json.dumps(sorted(m for m in sys.modules if m in {heavy})), file=sys.stderr)
"""


def test_a_connect_without_publish_loads_no_firewall_layer(tmp_path):
    """``-p`` is the only part of a connect that needs the nft layer; a plain connect is
    the hot path of every lab and must not pay for importing it."""
    heavy = ["netctl.firewall.sync", "netctl.firewall.nft", "netctl.firewall.libnft",
             "netctl.firewall.hostports"]
    argvs = [["sandbox", "create", "s"], ["network", "connect", "br", "s"]]
    kernel = str(tmp_path / "kernel.json")
    env = {**os.environ, "NETCTL_STATE": str(tmp_path / "state.toml"), "NETCTL_CONFIG": "/dev/null",
           fakenetctl.ENV: kernel}
    setup = subprocess.run(fakenetctl.command("network", "create", "br"),
                           env=env, capture_output=True, text=True, check=False)
    assert setup.returncode == 0, setup.stderr
    script = FIREWALL_LOADED.format(argvs=argvs, heavy=heavy, tests=str(fakenetctl.TESTS), kernel=kernel)
    proc = subprocess.run([sys.executable, "-c", script],
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


def test_the_kernel_imports_rtnetlink_not_the_whole_of_pyroute2():
    """pyroute2/__init__ imports the whole library (163 modules: NDB, IPDB, nl80211...);
    netlink.py loads the ~100 rtnetlink needs (kernel/pyroute2_core.py), and a later
    ``from pyroute2 import X`` in the same process still gets the full package."""
    code = ("import sys, json\nimport netctl.kernel.netlink as nl\n"
            "core = sorted(m for m in sys.modules if m.startswith('pyroute2'))\n"
            "from pyroute2 import NDB, IPRoute\nimport pyroute2\n"
            "full = sorted(m for m in sys.modules if m.startswith('pyroute2'))\n"
            "print(json.dumps([core, full, IPRoute is nl.IPRoute, NDB.__name__]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PKG.parent).stdout
    core, full, same, ndb = json.loads(out)
    assert "pyroute2.iproute.linux" in core and "pyroute2.ndb.main" not in core
    assert len(core) < 0.7 * len(full) and "pyroute2.ndb.main" in full
    assert same and ndb == "NDB"


def test_the_partial_pyroute2_still_has_its_version():
    """The package's own dunders (``__version__``, ``__all__``) come from its ``__init__``
    too: ``pyroute2.__version__`` was an AttributeError once netlink.py had loaded the
    partial package.  (pyroute2's own ``__all__`` lists classes, so ``import *`` fails on
    the full package too: not checked.)"""
    code = ("import json, importlib.metadata\nimport netctl.kernel.netlink\nimport pyroute2\n"
            "print(json.dumps([pyroute2.__version__, importlib.metadata.version('pyroute2'),\n"
            "                  len(pyroute2.__all__)]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PKG.parent)
    assert out.returncode == 0, out.stderr
    version, installed, exported = json.loads(out.stdout)
    assert version == installed and exported > 10
