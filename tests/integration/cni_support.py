"""Driving netctl as a CNI runtime does: the ``netctl`` console script exec'd from a plugin
directory with CNI_* in the environment and the configuration on stdin (spec "Execution").

``plugin_dir`` makes a CNI_PATH directory whose ``netctl`` is a console script of this
checkout (the one pip would write: ``from netctl.entry import main``), so a real runtime
(podman) finds it as it finds the reference plugins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import forkrun

REPO = Path(__file__).resolve().parents[2]
REFERENCE = "/usr/lib/cni"  # Debian's containernetworking-plugins


def plugin_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    script = root / "netctl"
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                      "from netctl.entry import main\nmain()\n")
    script.chmod(0o755)
    return root


def conf(name: str, version: str = "1.0.0", **keys: object) -> dict:
    return {"cniVersion": version, "name": name, "type": "netctl", **keys}


class Runtime:
    """ADD/DEL/CHECK/GC/STATUS against one state file, as a runtime execs the plugin."""

    def __init__(self, state: Path, plugins: Path):
        self.state, self.plugins = state, plugins
        self.env = forkrun.clean_env(NETCTL_STATE=str(state), NETCTL_CONFIG="/dev/null")

    def environ(self, command: str, cid: str = "", netns: str = "", ifname: str = "eth0",
                **extra: str) -> dict[str, str]:
        return {**self.env, "CNI_COMMAND": command, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
                "CNI_IFNAME": ifname, "CNI_PATH": f"{self.plugins}:{REFERENCE}", **extra}

    def start(self, command: str, config: dict, cid: str = "", netns: str = "", ifname: str = "eth0",
              plugin: str = "netctl", **extra: str) -> subprocess.Popen:
        directory = self.plugins if plugin == "netctl" else Path(REFERENCE)
        env = self.environ(command, cid, netns, ifname, **extra)
        proc = subprocess.Popen([str(directory / plugin)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        proc.stdin.write(json.dumps(config).encode())
        proc.stdin.close()
        proc.stdin = None  # written and closed: communicate() must not flush it again
        return proc

    @staticmethod
    def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, dict | None, str]:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, (json.loads(out) if out.strip() else None), err.decode()

    def __call__(self, command: str, config: dict, cid: str = "", netns: str = "", ifname: str = "eth0",
                 plugin: str = "netctl", **extra: str) -> tuple[int, dict | None, str]:
        return self.finish(self.start(command, config, cid, netns, ifname, plugin, **extra))

    def ok(self, *args, **kwargs) -> dict | None:
        code, doc, err = self(*args, **kwargs)
        assert code == 0, f"{args[0]} -> {code}: {doc} {err}"
        return doc


def netns_add(name: str) -> str:
    """A runtime's namespace: ``ip netns add`` (what podman's CNI backend makes, in /run/netns)."""
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return f"/run/netns/{name}"


def netns_del(name: str) -> None:
    if os.path.lexists(f"/run/netns/{name}"):
        subprocess.run(["ip", "netns", "del", name], check=True)
