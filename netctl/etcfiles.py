"""Reading the host's resolver files and writing the per-sandbox ``/etc/netns`` files.

``ip netns exec`` (and ``netctl sandbox exec``) bind-mounts every file in
``/etc/netns/NAME`` over ``/etc``, which is how the hosts and resolv.conf netctl renders reach
programs in the sandbox.

Nothing here follows a symlink at or below ``/etc/netns/NAME``: the directory is opened with
``O_NOFOLLOW`` and everything else goes through its descriptor, so a symlinked directory is
refused (``UnsafePath``) and a symlinked ``hosts`` is replaced, never written through.  The
temp file of an atomic write lives beside the directory (``/etc/netns/.NAME.hosts.tmp``),
where ``ip netns exec`` does not bind it, under a fixed name that the next write, ``sandbox
rm`` and ``check --repair`` remove if a killed netctl left it.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from .errors import Conflict
from .kernel.base import NETNS_ETC_DIR
from .txn import checkpoint

HOST_RESOLV = "/etc/resolv.conf"
HOST_HOSTS = "/etc/hosts"
SYSTEMD_RESOLV = "/run/systemd/resolve/resolv.conf"
ETC_DIR = Path(NETNS_ETC_DIR)
FILES = ("hosts", "resolv.conf")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Conflict):
    """/etc/netns/NAME is a symlink (or not a directory): netctl neither writes through it
    nor removes it (exit 4 where a command refuses; a warning where the state is saved)."""


def host_resolv_text() -> str:
    """The host's resolv.conf; behind systemd-resolved's stub, the real upstream file."""
    text = _host_text(HOST_RESOLV)
    servers = [line.split()[1] for line in text.splitlines()
               if line.startswith("nameserver") and len(line.split()) > 1]
    if servers == ["127.0.0.53"] and os.path.exists(SYSTEMD_RESOLV):
        return _host_text(SYSTEMD_RESOLV)
    return text


def host_hosts_text() -> str:
    """The host's /etc/hosts: what a sandbox on a host network gets (spec §7.4)."""
    return _host_text(HOST_HOSTS)


def _host_text(path: str) -> str:
    """A host file (a symlink is the admin's, e.g. resolved's stub), "" unless a regular file."""
    fd = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        with os.fdopen(fd, "rb") as handle:
            fd = None
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    finally:
        if fd is not None:
            os.close(fd)


def etc_dir() -> Path:
    """``/etc/netns``: a factory looked up at call time, so that tests over the fake kernel
    put a stand-in behind it and can never write the machine's /etc."""
    return ETC_DIR


def sandbox_dir(name: str) -> Path:
    return etc_dir() / name


def unsafe(name: str) -> UnsafePath | None:
    """The refusal for /etc/netns/NAME when something other than a directory is there."""
    try:
        st = os.lstat(sandbox_dir(name))
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return None
    what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
    return UnsafePath(f"{sandbox_dir(name)} is {what}: netctl does not write through it")


def _open_dir(name: str, create: bool) -> tuple[int, int]:
    """Descriptors of /etc/netns and of its NAME directory (made if ``create``), the latter
    opened without following a symlink."""
    if create:
        etc_dir().mkdir(mode=0o755, parents=True, exist_ok=True)
    parent = os.open(etc_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if create:
            with suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=parent)
        return parent, os.open(name, DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        os.close(parent)
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise unsafe(name) or exc from None
        raise


def make_sandbox_dir(name: str) -> None:
    """Create /etc/netns/NAME (a directory already there is fine, a symlink is refused)."""
    for fd in _open_dir(name, create=True):
        os.close(fd)


def _read_at(dir_fd: int, fname: str) -> str | None:
    """The file's text; None when missing, unreadable, a symlink (which is not ours) or not a
    regular file: a FIFO put there blocked the open for ever, inside the commit where signals
    wait (``network connect`` hung and ignored SIGTERM)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(fname, flags, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def read_sandbox_file(name: str, fname: str) -> str | None:
    """What ``check`` compares: a file reached through a symlink counts as missing."""
    try:
        parent, dir_fd = _open_dir(name, create=False)
    except (OSError, UnsafePath):
        return None
    try:
        return _read_at(dir_fd, fname)
    finally:
        os.close(dir_fd)
        os.close(parent)


def _temp(name: str, fname: str) -> str:
    return f".{name}.{fname}.tmp"


def _write_at(parent: int, dir_fd: int, name: str, fname: str, text: str) -> None:
    """Atomic replace through a temp beside the directory; a symlink in the way is replaced."""
    tmp = _temp(name, fname)
    with suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=parent)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                 dir_fd=parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        os.fchmod(handle.fileno(), 0o644)
    checkpoint("files-write")
    os.rename(tmp, fname, src_dir_fd=parent, dst_dir_fd=dir_fd)


def _sweep(parent: int, dir_fd: int, name: str) -> None:
    """Remove temps a killed write left: beside the directory, and the ``.hosts.*`` ones
    older netctl versions wrote inside it (which ``ip netns exec`` tries to bind)."""
    for fname in FILES:
        with suppress(FileNotFoundError):
            os.unlink(_temp(name, fname), dir_fd=parent)
    for entry in os.listdir(dir_fd):
        if any(entry.startswith(f".{fname}.") for fname in FILES):
            with suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=dir_fd)


def write_sandbox_files(name: str, hosts: str, resolv: str,
                        allowed: Callable[[], bool] = lambda: True) -> bool:
    """Write what differs (and sweep stray temps first); ``allowed`` is asked only then,
    so an unchanged sandbox costs no more than reading its two files.  False: not allowed."""
    try:
        parent, dir_fd = _open_dir(name, create=False)
    except FileNotFoundError:
        if not allowed():
            return False
        parent, dir_fd = _open_dir(name, create=True)
        allowed = lambda: True  # noqa: E731 - asked already
    try:
        stale = [(f, t) for f, t in zip(FILES, (hosts, resolv), strict=True)
                 if _read_at(dir_fd, f) != t]
        if not stale:
            return True
        if not allowed():
            return False
        _sweep(parent, dir_fd, name)
        for fname, text in stale:
            _write_at(parent, dir_fd, name, fname, text)
        return True
    finally:
        os.close(dir_fd)
        os.close(parent)


def sweep_sandbox_files(name: str) -> None:
    """Remove stray temps of NAME (``check --repair``); a missing or symlinked directory
    is left as it is."""
    try:
        parent, dir_fd = _open_dir(name, create=False)
    except (FileNotFoundError, UnsafePath):
        return
    try:
        _sweep(parent, dir_fd, name)
    finally:
        os.close(dir_fd)
        os.close(parent)


def remove_sandbox_files(name: str) -> None:
    """Remove /etc/netns/NAME and stray temps; a symlink there is not netctl's and stays
    (``UnsafePath``), and the removal itself never follows one (fd-based rmtree)."""
    with suppress(OSError):
        for fname in FILES:
            with suppress(FileNotFoundError):
                os.unlink(etc_dir() / _temp(name, fname))
    refusal = unsafe(name)
    if refusal is not None:
        raise refusal
    shutil.rmtree(sandbox_dir(name), ignore_errors=True)
