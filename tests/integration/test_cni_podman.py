"""A real CNI client: podman (``--network-backend cni``) runs containers on a netctl network.

Everything stays inside the suite's isolation: podman gets a throwaway ``--root``,
``--runroot`` and ``--tmpdir`` under the test's directory (never the machine's storage), a
``--cni-config-dir`` holding one netctl conflist, and its namespaces land on the suite's tmpfs
/run/netns.  No image can be pulled: one is built from Debian's busybox-static with
``podman import``.

Two things of this machine (itself a container) stop crun and are worked around inside the
isolated mount namespace only: the suite's fresh sysfs leaves /sys/fs/cgroup an empty sysfs
directory, which crun refuses ("invalid file system type"; the machine's own hybrid v1+v2
layout it refuses too), so a tmpfs goes there and containers run with ``cgroups =
"disabled"``; and the process may not raise rlimits (no CAP_SYS_RESOURCE), so podman's
default ulimits (nofile 1048576) are replaced by ones under this process's limits.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from cni_support import plugin_dir
from netctl_runner import Netctl

from netctl.kernel import netns as ns
from netctl.store import parse

BUSYBOX = "/bin/busybox"
# busybox's wget segfaults in a container without libraries (static glibc and its NSS); nc
# needs no name service: ``nc -ll -p PORT -e echo TEXT`` answers every TCP connection
APPLETS = ("sh", "nc", "echo", "sleep", "ip", "cat")


def _static_busybox() -> bool:
    try:
        with open(BUSYBOX, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return b"ld-linux" not in head and b"/lib64/ld" not in head


pytestmark = pytest.mark.skipif(
    (shutil.which("podman") is None or not _static_busybox()) and os.environ.get("CI") != "true",
    reason="needs podman and busybox-static (bash .ci/run installs them)")


def _limit(which: int, wanted: int) -> str:
    soft, hard = resource.getrlimit(which)
    value = min(x for x in (wanted, soft, hard) if x != resource.RLIM_INFINITY) if soft != -1 else wanted
    return f"{value}:{value}"


class Podman:
    def __init__(self, root: Path, plugins: Path):
        self.root = root
        self.cni = root / "cni"
        self.cni.mkdir(parents=True, exist_ok=True)
        conf = root / "containers.conf"
        conf.write_text(
            "[containers]\ncgroups = \"disabled\"\n"
            f"default_ulimits = [\"nofile={_limit(resource.RLIMIT_NOFILE, 1024)}\", "
            f"\"nproc={_limit(resource.RLIMIT_NPROC, 1024)}\"]\n"
            "[network]\nnetwork_backend = \"cni\"\n"
            f"cni_plugin_dirs = [\"{plugins}\", \"/usr/lib/cni\"]\n"
            f"network_config_dir = \"{self.cni}\"\n"
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n")
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.base = ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run"),
                     "--tmpdir", str(root / "tmp"), "--storage-driver", "vfs",
                     "--cni-config-dir", str(self.cni), "--network-backend", "cni"]

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run([*self.base, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert proc.returncode == 0, f"podman {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
        return proc.stdout

    def image(self) -> str:
        """localhost/bb: busybox-static and its applets, imported from a tarball."""
        tar = self.root / "bb.tar"
        with tarfile.open(tar, "w") as t:
            t.add(BUSYBOX, "bin/busybox")
            for applet in APPLETS:
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                t.addfile(info)
        self("import", str(tar), "localhost/bb:latest")
        return "localhost/bb:latest"


@pytest.fixture
def podroot():
    """podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long."""
    root = Path(tempfile.mkdtemp(prefix="netctl-pod-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cgroupfs():
    """crun needs /sys/fs/cgroup to be a tmpfs (cgroup v1 layout) or cgroup2: in the suite's
    mount namespace only, undone afterwards."""
    ns.mount("netctl-test", "/sys/fs/cgroup", "tmpfs")
    yield
    ns.umount("/sys/fs/cgroup", ns.MNT_DETACH)


def endpoint_of(state_path: Path, cid: str):
    st = parse(state_path.read_bytes(), state_path)
    sb = next(s for s in st.sandboxes if s.labels.get("cni.container_id") == cid)
    return next(e for e in st.endpoints if e.sandbox == sb.id)


def cid_ip(state_path: Path, cid: str) -> str:
    return endpoint_of(state_path, cid).ipv4.split("/")[0]


def test_podman_containers_on_a_netctl_network_reach_each_other_and_a_sandbox(tmp_path, podroot, cgroupfs):
    state = tmp_path / "state.toml"
    netctl = Netctl(state)
    pod = Podman(podroot, plugin_dir(tmp_path / "plugins"))
    image = pod.image()
    netctl.ok("network", "create", "podlab", "--subnet", "10.89.7.0/24")
    (pod.cni / "podlab.conflist").write_text(netctl.ok("cni", "podlab"))  # capabilities included
    try:
        web = pod("run", "-d", "--name", "web", "--network", "podlab", "--ip", "10.89.7.50",
                  "--mac-address", "02:00:00:00:07:50", "--network-alias", "webby", "-p", "18080:8080",
                  image, "nc", "-ll", "-p", "8080", "-e", "echo", "from-web").strip()
        web_ip = cid_ip(state, web)
        ep = endpoint_of(state, web)  # podman's options arrived as runtimeConfig / CNI_ARGS
        assert (web_ip, ep.mac, ep.ports) == ("10.89.7.50", "02:00:00:00:07:50", ["0.0.0.0:18080:8080/tcp"])
        assert "webby" in ep.aliases
        assert f"web-{web[:12]}" in netctl.names("sandbox")  # podman's name (K8S_POD_NAME) + short ID
        netctl.ok("sandbox", "create", "side")
        netctl.ok("network", "connect", "podlab", "side")
        side_ip = netctl.ok("endpoint", "inspect", "side", "--format", "{ipv4}").strip().split("/")[0]
        server = subprocess.Popen(["ip", "netns", "exec", "side", BUSYBOX, "nc", "-ll", "-p", "8081",
                                   "-e", BUSYBOX, "echo", "from-side"])
        try:
            out = pod("run", "--rm", "--name", "client", "--network", "podlab", image, "sh", "-c",
                      f"nc -w 5 {web_ip} 8080 && nc -w 5 {side_ip} 8081")
            assert out.split() == ["from-web", "from-side"]
            # the sandbox reaches the container by its podman network alias (netctl's hosts file)
            back = subprocess.run(["ip", "netns", "exec", "side", BUSYBOX, "nc", "-w", "5", "webby", "8080"],
                                  capture_output=True, text=True, timeout=30)
            assert back.stdout.strip() == "from-web", back.stderr
            # podman's -p 18080:8080 is netctl's published port
            host = subprocess.run([BUSYBOX, "nc", "-w", "5", "10.89.7.1", "18080"],
                                  capture_output=True, text=True, timeout=30)
            assert host.stdout.strip() == "from-web", host.stderr
        finally:
            server.kill()
            server.wait()
        assert netctl.run("check").code == 0
        pod("rm", "-f", "-t", "0", "web")
        st = parse(state.read_bytes(), state)
        assert [s.name for s in st.sandboxes] == ["side"] and len(st.endpoints) == 1
        rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        assert "18080" not in rules  # the published port went with the container
        assert netctl.run("check").code == 0
    finally:
        pod("rm", "-a", "-f", "-t", "0", check=False)
        netctl.teardown()
