"""Namespaces netctl did not make: probing a namespace file and binding it at /run/netns/NAME.

An adopted namespace carries no mark (netctl never changes its ``lo``), so it is known by
what the kernel says about it: its nsfs inode, which cannot be reused while netctl's bind
mount pins the namespace, and its cookie (SO_NETNS_COOKIE, a 64-bit counter the kernel never
hands out twice), which still tells a namespace from a later one with a recycled inode.
Every file is opened once and checked through that descriptor (fstat, NS_GET_NSTYPE), and
the bind mount is made from the descriptor, so the path cannot be swapped in between.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import socket
import stat
from contextlib import suppress

from netctl import errors
from netctl.kernel import netns as ns

NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3): the CLONE_NEW* type of a namespace file
SO_NETNS_COOKIE = 71
# /proc/PID/ns/net, or a thread's /proc/PID/task/TID/ns/net (tracked by its TID)
PROC_NETNS = re.compile(r"/proc/(?:[1-9][0-9]*/task/)?([1-9][0-9]*)/ns/net\Z")
# the kernel's own links to namespaces, which are followed (any other symlink is refused)
PROC_NS = re.compile(r"/proc/(?:self|thread-self|[1-9][0-9]*)/(?:task/[1-9][0-9]*/)?ns/[a-z_]+\Z")


def proc_pid(path: str) -> int | None:
    """The PID of a ``/proc/PID/ns/net`` path (the TID of a thread's): what adoption tracks."""
    match = PROC_NETNS.match(path)
    return int(match.group(1)) if match else None


def open_source(path: str) -> int:
    """An fd of the namespace file PATH.  A symlink is refused (its target is not what
    the user named), except ``/proc/…/ns/…``, the kernel's links to namespaces.  Only a
    regular file is opened (a namespace file is one): opening a device can have effects."""
    proc = PROC_NS.match(path) is not None
    try:
        st = os.stat(path) if proc else os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise errors.InvalidInput(f"{path} is a symbolic link: name the namespace file itself")
        if not stat.S_ISREG(st.st_mode):
            raise errors.InvalidInput(f"{path} is not a network namespace")
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY | (0 if proc else os.O_NOFOLLOW)
        return os.open(path, flags)
    except (FileNotFoundError, ProcessLookupError):
        raise errors.NotFound(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise errors.InvalidInput(f"{path} is a symbolic link: name the namespace file itself") from None
        raise ns.kernel_error(f"open {path}", exc.errno or 0, "CAP_SYS_ADMIN") from exc


def identity(fd: int, dev: int, home_fd: int, what: str) -> tuple[int, int]:
    """(inode, cookie) of the network namespace behind ``fd``; InvalidInput if it is not one."""
    st = os.fstat(fd)
    kind = -1
    if st.st_dev == dev:
        with suppress(OSError):
            kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    if kind != ns.CLONE_NEWNET:
        raise errors.InvalidInput(f"{what} is not a network namespace")
    return st.st_ino, cookie(fd, home_fd)


def cookie(fd: int, home_fd: int) -> int:
    """The namespace's cookie, read from a socket opened inside it."""
    ns.setns(fd)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    finally:
        ns.setns(home_fd)
    with sock:
        return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8), "little")


def named(name: str, dev: int, home_fd: int) -> tuple[int, int] | None:
    """(inode, cookie) of /run/netns/NAME; None when it is missing, a symlink or no namespace."""
    try:
        fd = os.open(ns.path_of(name), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return identity(fd, dev, home_fd, name)
    except (errors.InvalidInput, OSError):
        return None
    finally:
        os.close(fd)


def bind(name: str, fd: int, dev: int) -> None:
    """Bind the namespace of ``fd`` at /run/netns/NAME (EEXIST if NAME is there): only a
    mount is made, and ``netns.remove`` only unmounts it."""
    path, what = ns.path_of(name), f"bind network namespace {name}"
    try:
        ns._share_run_dir()
        if ns.inode(name, dev) is not None or os.path.lexists(path) and not _empty_file(path):
            # a name taken under /run/netns (a directory, a file): the user's to move, not a kernel failure
            raise errors.Conflict(f"/run/netns/{name} exists: choose another sandbox name")
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0))
        ns.mount(f"/proc/self/fd/{fd}", path, "none", ns.MS_BIND)
    except OSError as exc:
        with suppress(OSError):
            if ns.inode(name, dev) is None:
                os.unlink(path)
        raise ns.kernel_error(what, exc.errno or 0, "CAP_SYS_ADMIN") from exc


def _empty_file(path: str) -> bool:
    """A plain empty file (a mount point an interrupted bind or create left) may be reused."""
    st = os.lstat(path)
    return st.st_size == 0 and (st.st_mode & 0o170000) == 0o100000


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks after boot, /proc/PID/stat field 22): with the
    PID it names one process, so a recycled PID is not taken for the one adopted."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2 :].split()  # the comm may hold spaces and parens
    return int(fields[19])
