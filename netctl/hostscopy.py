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

import errno
import os
import stat

from .errors import InvalidInput, NotFound

FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _open(path: str, mode: int) -> int:
    """An fd of the regular file PATH, never through a symlink at its last component."""
    try:
        fd = os.open(path, mode | FLAGS)
    except FileNotFoundError:
        raise NotFound(f"--hosts-file {path}: no such file (netctl writes only an existing file)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInput(f"--hosts-file {path} is a symbolic link: "
                               "netctl does not write through it") from None
        raise InvalidInput(f"--hosts-file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"--hosts-file {path} is not a regular file")
    return fd


def check(path: str) -> None:
    """Refuse, before anything changes, a path netctl would not write."""
    os.close(_open(path, os.O_RDONLY))


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
