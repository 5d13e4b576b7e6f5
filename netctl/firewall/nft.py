"""Talking to nftables and to the forwarding sysctls: the firewall's only I/O.

One batch = one kernel transaction, run through libnftables in-process (libnft.py, ctypes:
0.4 ms a batch) when the library loads, else as ``nft -f -`` in a subprocess (12-24 ms);
Debian's Python binding (python3-nftables) lives outside any venv, so it is not used.
Only ``table inet netctl`` and ``table bridge netctl`` are ever listed or changed; the one
wider read is ``list chains`` (names, hooks, policies) for ``check``'s warning about other
tables' drop policies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..errors import KernelError
from . import libnft
from .rules import FAMILIES, TABLE

MISSING = ("nftables is needed for this network's NAT and isolation rules: install it "
           "(Debian: apt install nftables), or set firewall = false in netctl.toml")
SYSCTL_DIR = Path("/proc/sys")


class Nft:
    def __init__(self, binary: str | None = None):
        self.binary = binary or shutil.which("nft")

    def _run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        """``nft ARGS`` (``-f -`` reads ``stdin``): in-process through libnftables when it
        loads (libnft.py), else the binary.  The binary is what "installed" means."""
        if self.binary is None:
            raise KernelError(MISSING)
        lib = libnft.load() if args[0] != "--version" else None
        if lib is not None:
            words = args[1:] if args[0] == "-j" else args
            text = stdin if words == ["-f", "-"] else " ".join(words)
            code, out, err = libnft.run(lib, text or "", libnft.JSON if args[0] == "-j" else 0)
            return subprocess.CompletedProcess(args, code, out, err)
        return subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True,
                              timeout=30)

    def version(self) -> str | None:
        if self.binary is None:
            return None
        out = self._run(["--version"]).stdout.split()
        return out[1].lstrip("v") if len(out) > 1 else None

    def table(self, family: str) -> str:
        """``nft list table FAMILY netctl`` text, '' when there is no such table."""
        proc = self._run(["list", "table", family, TABLE])
        if proc.returncode == 0:
            return proc.stdout
        if "No such file or directory" in proc.stderr:
            return ""
        raise KernelError(_failure("list table", proc.stderr))

    def tables(self) -> dict[str, str]:
        return {f: self.table(f) for f in FAMILIES}

    def apply(self, script: str) -> None:
        """Run one batch: the kernel applies all of it or none of it."""
        if not script:
            return
        proc = self._run(["-f", "-"], stdin=script)
        if proc.returncode != 0:
            raise KernelError(_failure("apply", proc.stderr))

    def chains(self) -> list[dict]:
        """Every base/regular chain's family, table, name, hook and policy (read-only)."""
        proc = self._run(["-j", "list", "chains"])
        if proc.returncode != 0:
            raise KernelError(_failure("list chains", proc.stderr))
        items = json.loads(proc.stdout or "{}").get("nftables", [])
        return [i["chain"] for i in items if "chain" in i]

    def sysctl(self, key: str) -> str | None:
        try:
            return (SYSCTL_DIR / key.replace(".", "/")).read_text().strip()
        except OSError:
            return None

    def set_sysctl(self, key: str, value: str) -> None:
        try:
            (SYSCTL_DIR / key.replace(".", "/")).write_text(value + "\n")
        except OSError as exc:
            raise KernelError(f"sysctl {key}={value}: {exc.strerror}", exc.errno) from None


def _failure(what: str, stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    text = lines[0] if lines else "failed"
    if "Operation not supported" in stderr or "Protocol not supported" in stderr:
        return f"nftables: the kernel lacks nf_tables support ({text}); " \
               "load nf_tables or set firewall = false in netctl.toml"
    return f"nft {what}: {text.removeprefix('Error: ')}"


def open_nft() -> Nft:
    """The machine's nftables: the one factory the firewall layer calls (a seam for tests)."""
    return Nft()
