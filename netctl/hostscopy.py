"""``sandbox create --hosts-file PATH``: a copy of an adopted sandbox's hosts file where the
container reads it.

A container does not see ``/etc/netns/NAME`` (only ``ip netns exec`` binds it), but podman
and docker keep the file they bind-mount over its ``/etc/hosts`` on the host.  netctl writes
the sandbox's rendered hosts text into that file *in place*: a rename would give the path a
new inode, and the container's bind mount would keep showing the old one.  The file must
exist and be a regular file; the last component is never followed (``O_NOFOLLOW``), so a
symlink put there is refused rather than written through.  The new text is written over the
old before the file is cut to its length, so a reader never sees it empty.
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from ipaddress import ip_address

from .errors import InvalidInput, NotFound

FLAGS = os.O_NONBLOCK | os.O_CLOEXEC  # for the reopen through /proc/self/fd (a link to follow)


def _open(path: str, mode: int) -> int:
    """An fd of the regular file PATH, never through a symlink at its last component.  The
    path is first opened with O_PATH (which opens nothing for data) and judged by fstat;
    only a regular file is then reopened through that fd: opening a FIFO releases a writer
    blocked on it, and opening a device can act (a watchdog starts counting)."""
    try:
        where = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"--hosts-file {path}: no such file (netctl writes only an existing file)") from None
    except OSError as exc:
        raise InvalidInput(f"--hosts-file {path}: {exc.strerror}") from None
    try:
        kind = os.fstat(where).st_mode
        if stat.S_ISLNK(kind):
            raise InvalidInput(f"--hosts-file {path} is a symbolic link: netctl does not write through it")
        if not stat.S_ISREG(kind):
            raise InvalidInput(f"--hosts-file {path} is not a regular file")
        try:
            return os.open(f"/proc/self/fd/{where}", mode | FLAGS)
        except OSError as exc:
            raise InvalidInput(f"--hosts-file {path}: {exc.strerror}") from None
    finally:
        os.close(where)


def check(path: str) -> None:
    """Refuse, before anything changes, a path netctl would not write: besides what
    ``_open`` refuses, the host's own /etc/hosts (the path a container reads, but the
    host's file) and a file that is not a hosts file (/etc/passwd by a slip of the finger),
    whose content netctl would replace."""
    from .etcfiles import HOST_HOSTS, etc_dir

    if os.path.realpath(path).startswith(f"{os.path.realpath(etc_dir())}/"):
        raise InvalidInput(f"--hosts-file {path} is under {etc_dir()}, a sandbox's own files "
                           "(netctl's, maybe of another state file)")
    fd = _open(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        with suppress(OSError):
            host = os.stat(HOST_HOSTS)
            if (host.st_dev, host.st_ino) == (st.st_dev, st.st_ino):
                raise InvalidInput(f"--hosts-file {path} is the host's own {HOST_HOSTS}: "
                                   "name the file the container's /etc/hosts is bound from")
        try:
            data = os.pread(fd, MAX_HOSTS, 0)
        except OSError as exc:  # /proc/self/mem, a sysfs or procfs file: no hosts file
            raise InvalidInput(f"--hosts-file {path} cannot be read: {exc.strerror}") from None
        if not _hosts_text(data):
            raise InvalidInput(f"--hosts-file {path} is not a hosts file (a line does not start "
                               "with an address): netctl would replace its content")
    finally:
        os.close(fd)


MAX_HOSTS = 1 << 20  # judged by its first MiB


def _hosts_text(data: bytes) -> bool:
    """Every line that is not blank or a comment starts with an IP address."""
    for line in data.decode("utf-8", errors="replace").splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            ip_address(words[0].split("%", 1)[0])
        except ValueError:
            return False
    return True


def write(path: str, text: str) -> bool:
    """Put ``text`` into PATH unless it is there already; False when nothing changed."""
    data = text.encode()
    fd = _open(path, os.O_RDWR)
    try:
        if os.pread(fd, len(data) + 1, 0) == data:
            return False
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        return True
    finally:
        os.close(fd)
