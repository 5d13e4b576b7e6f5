"""Reading the host's resolver files and writing the per-sandbox ``/etc/netns`` files.

``ip netns exec`` (and ``netctl sandbox exec``) bind-mounts every file in
``/etc/netns/NAME`` over ``/etc``, which is how the hosts and resolv.conf netctl renders reach
programs in the sandbox.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .kernel.base import NETNS_ETC_DIR

HOST_RESOLV = "/etc/resolv.conf"
HOST_HOSTS = "/etc/hosts"
SYSTEMD_RESOLV = "/run/systemd/resolve/resolv.conf"
ETC_DIR = Path(NETNS_ETC_DIR)


def host_resolv_text() -> str:
    """The host's resolv.conf; behind systemd-resolved's stub, the real upstream file."""
    try:
        text = Path(HOST_RESOLV).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    servers = [line.split()[1] for line in text.splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1]
    if servers == ["127.0.0.53"] and os.path.exists(SYSTEMD_RESOLV):
        return Path(SYSTEMD_RESOLV).read_text(encoding="utf-8", errors="replace")
    return text


def host_hosts_text() -> str:
    """The host's /etc/hosts: what a sandbox on a host network gets (spec §7.4)."""
    try:
        return Path(HOST_HOSTS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def etc_dir() -> Path:
    """``/etc/netns``; with the fake kernel (tests without root) a stand-in beside its file,
    so that a fake run can never write the machine's /etc."""
    fake = os.environ.get("NETCTL_FAKE_KERNEL")
    return Path(fake).parent / "etc-netns" if fake else ETC_DIR


def sandbox_dir(name: str) -> Path:
    return etc_dir() / name


def write_file(path: Path, text: str) -> None:
    """Atomic replace, skipped when the content is already right."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), 0o644)
    os.replace(tmp, path)


def write_sandbox_files(name: str, hosts: str, resolv: str) -> None:
    write_file(sandbox_dir(name) / "hosts", hosts)
    write_file(sandbox_dir(name) / "resolv.conf", resolv)


def remove_sandbox_files(name: str) -> None:
    shutil.rmtree(sandbox_dir(name), ignore_errors=True)
