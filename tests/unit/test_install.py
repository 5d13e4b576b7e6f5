"""The README's install command: a venv of netctl's own from the machine's python3 (Debian's
refuses `pip install .` under PEP 668), `netctl` linked onto PATH, man pages and completions
where man and the shells look, and an uninstall that removes exactly that."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "install.sh"
# Debian's own interpreter where there is one: the case `pip install .` failed on.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


# The suite runs in a network namespace with no way out, so pip installs from the wheels
# .ci/run downloads beforehand (netctl's dependencies and its build backend).
WHEELHOUSE = os.environ.get("NETCTL_WHEELHOUSE", "")


def run(tmp_path: Path, *args: str, wheels: str = WHEELHOUSE) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NETCTL_HOME": str(tmp_path / "opt"), "PREFIX": str(tmp_path / "usr"),
            "PYTHON": PYTHON, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels}
    return subprocess.run(["sh", str(SCRIPT), *args], env=full, capture_output=True, text=True, timeout=300)


def installed_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


OFFLINE = pytest.mark.skipif(not WHEELHOUSE and os.environ.get("CI") != "true",
                             reason="set NETCTL_WHEELHOUSE (bash .ci/run does) to install offline")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """One install shared by this module's tests (each takes ~7 s): the root it went to.  The
    tests below run in file order; the last one uninstalls."""
    if subprocess.run([PYTHON, "-c", "import ensurepip, venv"], capture_output=True).returncode != 0:
        pytest.skip(f"{PYTHON} has no venv module (the script would apt-get install it)")
    root = tmp_path_factory.mktemp("install")
    res = run(root)
    assert res.returncode == 0, res.stderr
    return root


@OFFLINE
def test_install_puts_netctl_man_pages_and_completions_in_place(installed):
    tmp_path = installed
    usr = tmp_path / "usr"
    files = installed_files(usr)
    assert {"bin/netctl", "share/bash-completion/completions/netctl", "share/zsh/site-functions/_netctl",
            "share/fish/vendor_completions.d/netctl.fish", "share/man/man8/netctl.8",
            "share/man/man8/netctl-network-create.8", "share/man/man5/netctl.toml.5"} <= files
    assert len([f for f in files if f.startswith("share/man/")]) == len(list((REPO / "man").iterdir()))

    state = tmp_path / "state.toml"
    version = subprocess.run([str(usr / "bin" / "netctl"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "netctl, version" in version.stdout
    ls = subprocess.run([str(usr / "bin" / "netctl"), "--state", str(state), "network", "ls", "-q"],
                        capture_output=True, text=True)
    assert (ls.returncode, ls.stdout, ls.stderr) == (0, "", "")
    # the installed command runs from its own venv, not from this checkout or the test's python
    home = (tmp_path / "opt").resolve()
    assert os.path.realpath(usr / "bin" / "netctl").startswith(str(home))
    shipped = [p for p in home.rglob("netctl/**/*") if "site-packages" in p.parts]
    assert shipped and not [p.name for p in shipped if "fake" in p.name.lower()]  # tests/support's


@OFFLINE
def test_an_upgrade_that_fails_leaves_the_installed_netctl_working(installed):
    """The second run wiped the venv (venv --clear) before pip ran: with no index reachable
    the upgrade failed and netctl was gone (exit 127)."""
    tmp_path = installed
    netctl = tmp_path / "usr" / "bin" / "netctl"
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    assert run(tmp_path, wheels=str(empty)).returncode != 0  # pip finds nothing to build with
    version = subprocess.run([str(netctl), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "netctl, version" in version.stdout
    res = run(tmp_path)  # a good upgrade reuses the venv
    assert res.returncode == 0 and "upgrading" in res.stderr, res.stderr
    assert subprocess.run([str(netctl), "--version"], capture_output=True).returncode == 0


@OFFLINE
def test_uninstall_removes_what_install_put(installed):
    res = run(installed, "--uninstall")
    assert res.returncode == 0, res.stderr
    assert installed_files(installed / "usr") == set()
    assert not (installed / "opt").exists()


def test_install_refuses_to_replace_a_directory_that_is_not_its_venv(tmp_path):
    precious = tmp_path / "opt" / "data.txt"
    precious.parent.mkdir()
    precious.write_text("keep me")
    res = run(tmp_path)
    assert res.returncode == 1
    assert "is not a venv" in res.stderr
    assert precious.read_text() == "keep me"
    assert not (tmp_path / "usr").exists()


def test_install_rejects_unknown_arguments(tmp_path):
    res = run(tmp_path, "--prefix=/x")
    assert res.returncode == 2 and "usage" in res.stderr
    assert not (tmp_path / "opt").exists()
