"""The facts behind ``netctl status``: what a user checks first when something is wrong.

Everything here is a cheap read: the state file without the lock, the lock's holder, the
config file, a few files under /proc and /sys, and $PATH.  No netlink (no pyroute2), no
namespace switching, nothing that needs root, so it answers even when netctl itself cannot
work, which is exactly when it is needed.  Each check reports what it saw instead of failing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import NetctlError
from ..store import Store

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def gather(store: Store, config_path: str) -> dict[str, Any]:
    from ..firewall import facts as firewall

    try:
        state = store.read()
    except (NetctlError, OSError):
        state = None
    return {
        "version": _version(),
        "state": state_facts(store),
        "lock": lock_facts(store),
        "config": config_facts(config_path),
        "kernel": kernel_facts(),
        "caller": caller_facts(store.path),
        "firewall": firewall.gather(state, config_path),
        "cni": cni_facts(),
    }


def cni_facts() -> dict[str, Any]:
    """Whether a container runtime finds netctl as a CNI plugin (netctl/cni/reach.py)."""
    from ..cni import reach

    return reach.facts()


def _version() -> str:
    from importlib.metadata import version

    try:
        return version("netctl")
    except Exception:  # noqa: BLE001 - not installed, or its metadata unreadable for this user
        return "unknown"


def state_facts(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {"path": str(store.path), "exists": os.path.exists(store.path), "size": None,
                           "error": None, "networks": 0, "endpoints": 0, "joined_endpoints": 0,
                           "sandboxes": 0}
    if out["exists"]:
        with contextlib.suppress(OSError):
            out["size"] = store.path.stat().st_size
    try:
        state = store.read()
    except (NetctlError, OSError) as exc:
        out["error"] = str(exc)
        return out
    out.update(networks=len(state.networks), endpoints=len(state.endpoints),
               joined_endpoints=sum(1 for e in state.endpoints if e.sandbox),
               sandboxes=len(state.sandboxes))
    return out


def lock_facts(store: Store) -> dict[str, Any]:
    pid = store.lock_holder()
    holder = None
    if pid and pid > 0:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            holder = " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split()) or None
        except OSError:
            holder = None
    return {"path": str(store.lock_path), "held": pid is not None,
            "holder_pid": pid if pid and pid > 0 else None, "holder": holder}


def config_facts(path: str) -> dict[str, Any]:
    from ..config import load

    out: dict[str, Any] = {"path": path, "exists": bool(path) and os.path.exists(path), "error": None,
                           "default_pools": None, "exclude": [], "default_mtu": None,
                           "default_driver": "bridge"}
    try:
        cfg = load(path)
    except NetctlError as exc:
        out["error"] = str(exc)
        return out
    if cfg.pools is not None:
        out["default_pools"] = [{"base": str(b), "size": s} for b, s in cfg.pools.entries]
    out.update(exclude=[str(x) for x in cfg.exclude], default_mtu=cfg.default_mtu,
               default_driver=cfg.default_driver)
    return out


def _modules_dir() -> Path:
    return Path("/lib/modules") / os.uname().release


def module_state(name: str) -> str:
    """loaded, built-in, module (loads on first use), missing, or unknown."""
    if Path("/sys/module", name).exists():
        return "loaded"
    mods = _modules_dir()
    wanted = (f"/{name}.ko", f"/{name}.ko.xz", f"/{name}.ko.zst", f"/{name}.ko.gz")
    try:
        builtin = (mods / "modules.builtin").read_text(errors="replace").split()
        if any(line.endswith(f"/{name}.ko") for line in builtin):
            return "built-in"
        dep = (mods / "modules.dep").read_text(errors="replace")
    except OSError:
        return "unknown"
    for line in dep.splitlines():
        if line.split(":", 1)[0].endswith(wanted):
            return "module"
    return "missing"


# link types the macvlan/ipvlan drivers need: (module, kernel config symbol)
LINK_TYPES = {"macvlan": ("macvlan", "CONFIG_MACVLAN"), "ipvlan": ("ipvlan", "CONFIG_IPVLAN"),
              "vlan": ("8021q", "CONFIG_VLAN_8021Q"), "dummy": ("dummy", "CONFIG_DUMMY")}


def _kernel_config() -> dict[str, str]:
    """``CONFIG_X`` -> y/m from /proc/config.gz, or {} where the kernel does not offer it."""
    import gzip

    try:
        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode(errors="replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    out[""] = "read"  # the file was there: a symbol it lacks is not set
    return out


def link_types() -> dict[str, str]:
    """Per link type: as module_state says, or from the kernel's own config when the module
    files say nothing (a built-in driver without parameters has no /sys/module entry)."""
    config, out = None, {}
    for kind, (module, symbol) in LINK_TYPES.items():
        found = module_state(module)
        if found in ("unknown", "missing"):
            config = _kernel_config() if config is None else config
            if config:
                found = {"y": "built-in", "m": "module"}.get(config.get(symbol, ""), "missing")
        out[kind] = found
    return out


def kernel_facts() -> dict[str, Any]:
    return {
        "release": os.uname().release,
        "namespaces": Path("/proc/self/ns/net").exists(),
        "netns_dir": "/run/netns",
        "bridge": module_state("bridge"),
        "veth": module_state("veth"),
        "nf_tables": module_state("nf_tables"),
        "link_types": link_types(),
        "nft": shutil.which("nft"),
    }


def _cap_eff() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _writable_dir(path: Path) -> bool:
    """Whether the state file's directory (or its nearest existing parent) can be written."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return os.access(directory, os.W_OK)


def caller_facts(state_path: Path) -> dict[str, Any]:
    caps = _cap_eff()
    euid = os.geteuid()
    out = {"uid": os.getuid(), "euid": euid,
           "cap_net_admin": bool(caps >> CAP_NET_ADMIN & 1), "cap_sys_admin": bool(caps >> CAP_SYS_ADMIN & 1),
           "state_dir_writable": _writable_dir(state_path)}
    reasons = []
    if euid != 0:
        reasons.append("not root (run it with sudo)")
    for cap in ("cap_net_admin", "cap_sys_admin"):
        if not out[cap]:
            reasons.append(f"no {cap.upper()}")
    if not out["state_dir_writable"]:
        reasons.append(f"{state_path.parent} is not writable")
    out["can_change"] = not reasons
    out["why_not"] = "; ".join(reasons) or None
    return out
