"""Is netctl where a runtime looks for CNI plugins?  (for ``netctl status``)

A runtime execs the plugin named by the configuration's ``type`` from the directories of
CNI_PATH (podman: containers.conf ``cni_plugin_dirs``; containerd: ``bin_dir``).  Cheap
reads only: a directory listing, a symlink's target, a script's first line or two.
"""

from __future__ import annotations

import os
from typing import Any

#: where runtimes look by default (the reference plugins' /opt/cni/bin, Debian's /usr/lib/cni,
#: Fedora's /usr/libexec/cni)
USUAL_DIRS = ("/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni")


def _kind(path: str) -> str:
    """plugin: a console script of a netctl that turns into the plugin under CNI_COMMAND;
    old: one from before (netctl.cli:main, a CLI only); other: something else (a binary)."""
    import stat

    try:  # O_NONBLOCK and regular files only: a FIFO there hung `netctl status` in open()
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return "unreadable"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "other"
        head = os.read(fd, 2048)
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
    if b"netctl.entry" in head:
        return "plugin"
    return "old" if b"netctl.cli" in head else "other"


def facts(dirs: tuple[str, ...] = USUAL_DIRS) -> dict[str, Any]:
    found = []
    for directory in dirs:
        path = os.path.join(directory, "netctl")
        if not os.path.lexists(path):
            continue
        target = os.path.realpath(path)
        found.append({"path": path, "target": target, "executable": os.access(path, os.X_OK),
                      "kind": _kind(target)})
    usable = [f for f in found if f["executable"] and f["kind"] == "plugin"]
    return {"dirs": list(dirs), "found": found, "reachable": bool(usable)}


def line(f: dict[str, Any]) -> str:
    if f["reachable"]:
        first = next(x for x in f["found"] if x["executable"] and x["kind"] == "plugin")
        return f"plugin reachable as {first['path']} -> {first['target']}"
    if f["found"]:
        x = f["found"][0]
        why = "not executable" if not x["executable"] else {
            "old": "an older netctl without the CNI plugin", "other": "not netctl's console script",
            "unreadable": "unreadable"}.get(x["kind"], x["kind"])
        return f"{x['path']} is {why}"
    return ("not on the usual CNI_PATH (" + ", ".join(f["dirs"]) +
            "): ln -s \"$(command -v netctl)\" /opt/cni/bin/netctl")
