"""Named network namespaces (``/run/netns/NAME``) and the syscalls behind them, via ctypes.

Python 3.11 has no ``os.setns``/``os.unshare``/``mount``. These wrappers give netlink.py,
nsexec.py and the test harness fork-free namespace work without importing pyroute2 (whose
import alone costs more than creating a namespace here, ~1 ms against pyroute2's ~11 ms
``netns.create``, which forks a helper). Namespace switches are per *thread*.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from netctl import errors
from netctl.kernel.base import NETNS_RUN_DIR
from netctl.txn import checkpoint

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8
THREAD_NS = "/proc/thread-self/ns/net"
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    _check(_c().setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_c().unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0) -> None:
    _check(_c().mount(_b(source), _b(target), _b(fstype), flags, None), f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_c().umount2(_b(target), flags), f"umount {target}")


def kernel_error(what: str, code: int, cap: str = "CAP_NET_ADMIN") -> errors.NetctlError:
    """The one errno-to-error mapping of the kernel package."""
    if code in (errno.EPERM, errno.EACCES):
        return errors.PermissionDenied(f"{what}: needs root ({cap})")
    return errors.KernelError(f"{what}: {os.strerror(code)}", code)


def path_of(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise errors.KernelError(f"invalid network namespace name {name!r}", errno.EINVAL)
    return os.path.join(NETNS_RUN_DIR, name)


def nsfs_dev() -> int:
    """Every namespace file lives on the one nsfs superblock; a leftover plain file does not."""
    return os.stat(THREAD_NS).st_dev


def inode(name: str, dev: int) -> int | None:
    """The namespace's identity, or None when NAME is missing or not a mounted namespace."""
    try:
        st = os.stat(path_of(name))
    except FileNotFoundError:
        return None
    return st.st_ino if st.st_dev == dev else None


def is_link(name: str) -> bool:
    return os.path.islink(path_of(name))


def home_inodes(home_fd: int) -> set[int]:
    """The namespaces that are never a sandbox: ``home_fd``'s (where this process works)
    and the init process's (the machine's own, when netctl runs in a namespace)."""
    out = {os.fstat(home_fd).st_ino}
    with suppress(OSError):
        out.add(os.stat("/proc/1/ns/net").st_ino)
    return out


def names(dev: int) -> list[str]:
    try:
        entries = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if inode(n, dev) is not None)


def open_fd(name: str, dev: int) -> int:
    try:
        fd = os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = -1
    if fd >= 0 and os.fstat(fd).st_dev == dev:
        return fd
    if fd >= 0:
        os.close(fd)
    raise errors.KernelError(f"network namespace {name} not found", errno.ENOENT)


@contextmanager
def entered(name: str, dev: int, home_fd: int) -> Iterator[None]:
    """Run the body with this thread in NAME, then back in ``home_fd``'s namespace."""
    fd = open_fd(name, dev)
    try:
        try:
            setns(fd)
        except OSError as exc:
            raise kernel_error(f"enter network namespace {name}", exc.errno or 0) from exc
    finally:
        os.close(fd)
    try:
        yield
    finally:
        setns(home_fd)


RTM_GETLINK, NLMSG_ERROR, NLM_F_REQUEST, IFLA_IFNAME, IFLA_IFALIAS = 18, 2, 1, 3, 20


def lo_alias(name: str, dev: int, home_fd: int) -> str | None:
    """``lo``'s ifalias in NAME (how netctl marks its namespaces) from one raw RTM_GETLINK
    on a netlink socket opened inside it: ~30 µs against pyroute2's ~0.3 ms, and asked
    before every change in a sandbox, including each hosts file a connect rewrites."""
    with entered(name, dev, home_fd):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    ifname = b"lo\0"
    attr = struct.pack("=HH", 4 + len(ifname), IFLA_IFNAME) + ifname + b"\0"  # padded to 8
    body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0) + attr
    with sock:
        sock.send(struct.pack("=IHHII", 16 + len(body), RTM_GETLINK, NLM_F_REQUEST, 1, 0) + body)
        data = sock.recv(65536)
    length, kind = struct.unpack_from("=IH", data)
    if kind == NLMSG_ERROR:
        raise kernel_error(f"get lo in network namespace {name}", -struct.unpack_from("=i", data, 16)[0])
    return _rtattr(data[32:length], IFLA_IFALIAS)


def _rtattr(buf: bytes, wanted: int) -> str | None:
    off = 0
    while off + 4 <= len(buf):
        size, kind = struct.unpack_from("=HH", buf, off)
        if size < 4:
            break
        if kind & 0x3FFF == wanted:
            return buf[off + 4 : off + size].rstrip(b"\0").decode(errors="replace")
        off += (size + 3) & ~3
    return None


@contextmanager
def scratch(home_fd: int) -> Iterator[None]:
    """Run the block on this thread in a new, empty network namespace that nothing names:
    the kernel frees it, with whatever was made in it, once the thread leaves and the last
    socket opened inside it is closed (how link_kinds tries link types)."""
    unshare(CLONE_NEWNET)
    try:
        yield
    finally:
        setns(home_fd)


def write_sysctl(path: str, value: str) -> None:
    """/proc/sys/net follows the writing thread's namespace, so this works after setns."""
    with open(path, "w") as f:
        f.write(value)


def create(name: str, dev: int, home_fd: int, prepare: Callable[[], None] | None = None) -> None:
    """Make NAME the way ``ip netns add`` does, without forking: unshare this thread,
    configure its namespace, bind it onto /run/netns/NAME, and setns back to ``home_fd``.

    Inside, ``lo`` is up and IPv6 is disabled for every future interface (``default``) and
    existing ones (``all``), ``lo`` included: it is turned on per interface at join, and on
    ``lo`` while an interface of the sandbox has IPv6 (spec §7.2, service/gateway.py).
    ``prepare`` runs in the new namespace before the mount (netlink.py marks ``lo``
    there): until the mount nothing else can see it, and a kill before it takes the
    namespace with the process.
    """
    path, what = path_of(name), f"create network namespace {name}"
    try:
        _share_run_dir()
        if inode(name, dev) is not None:
            raise errors.KernelError(f"{what}: File exists", errno.EEXIST)
        # a plain file left by an interrupted create is reused: the mount goes over it
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0))
    except OSError as exc:
        raise kernel_error(what, exc.errno or 0, "CAP_SYS_ADMIN") from exc
    try:
        _unshare_onto(path, home_fd, prepare)
    except OSError as exc:
        remove(name)
        raise kernel_error(what, exc.errno or 0, "CAP_SYS_ADMIN") from exc
    except BaseException:
        remove(name)
        raise


def bind_host(name: str, dev: int, home_fd: int) -> None:
    """Make /run/netns/NAME the namespace of ``home_fd`` (the "host": the one netctl runs
    in), as docker binds a host-mode container to its own namespace.  Only a mount is
    made: nothing inside that namespace is touched, and ``remove`` only unmounts it."""
    path, what = path_of(name), f"bind network namespace {name} to the host's"
    try:
        _share_run_dir()
        if inode(name, dev) is not None:
            raise errors.KernelError(f"{what}: File exists", errno.EEXIST)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0))
        mount(f"/proc/self/fd/{home_fd}", path, "none", MS_BIND)
    except OSError as exc:
        with suppress(OSError):
            if inode(name, dev) is None:
                os.unlink(path)
        raise kernel_error(what, exc.errno or 0, "CAP_SYS_ADMIN") from exc


def _unshare_onto(path: str, home_fd: int, prepare: Callable[[], None] | None) -> None:
    unshare(CLONE_NEWNET)
    try:
        with suppress(FileNotFoundError):  # a kernel without IPv6
            for key, value in (("default", "1"), ("all", "1"), ("lo", "1")):
                write_sysctl(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", value)
        set_up("lo")
        if prepare is not None:
            prepare()
        mount(THREAD_NS, path, "none", MS_BIND)
        checkpoint("netns-mounted")  # where an unmarked namespace used to be visible
        checkpoint("netns-mounted", "after")
    finally:
        setns(home_fd)


def set_up(ifname: str) -> None:
    """Bring a link up with two ioctls in this thread's namespace: no netlink socket needed
    (a new namespace's ``lo``, the test harness's ``lo``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH", ifname.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", ifname.encode(), flags | IFF_UP))


def _share_run_dir() -> None:
    """Like ``ip netns add``: /run/netns is a shared mount so namespace mounts propagate."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    try:
        mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not a mount point yet
            raise
        mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC)
        mount("none", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC)


def remove(name: str) -> None:
    """Unmount and unlink; a namespace that is already gone is fine.  A symlink at the path
    is unlinked, never followed: the mount it points to is not this name's to remove."""
    path = path_of(name)
    try:
        umount(path, MNT_DETACH | UMOUNT_NOFOLLOW)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise kernel_error(f"delete network namespace {name}", exc.errno or 0, "CAP_SYS_ADMIN") from exc
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise kernel_error(f"delete network namespace {name}", exc.errno or 0, "CAP_SYS_ADMIN") from exc
