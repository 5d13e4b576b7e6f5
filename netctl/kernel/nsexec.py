"""``exec_in_netns``: what ``ip netns exec NAME CMD`` does, natively (no ip, no pyroute2).

Programs started this way see the namespace's own /sys and the per-sandbox files under
/etc/netns/NAME (hosts, resolv.conf) in place of /etc's, exactly as with iproute2, so
``netctl exec`` and ``ip netns exec`` behave the same on what netctl made.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from netctl import errors
from netctl.kernel import netns
from netctl.kernel.base import NETNS_ETC_DIR, NETNS_RUN_DIR

ST_RDONLY = 0x1


def exec_in_netns(name: str, argv: list[str]) -> NoReturn:
    """Replace this process with ``argv`` running inside namespace ``name``.

    Call it from a single-threaded process: ``unshare(CLONE_NEWNS)`` refuses otherwise.
    """
    if not argv:
        raise errors.InvalidInput("no command given to run in the namespace")
    _enter_netns(name)
    try:
        _private_mounts(name)
    except OSError as exc:
        raise netns.kernel_error(f"prepare mounts for {name}", exc.errno or 0, "CAP_SYS_ADMIN") from exc
    sys.stdout.flush()  # exec discards whatever the caller left buffered
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        _die(f"{argv[0]}: command not found", 127)
    except ValueError:  # an empty name (or a NUL byte): no such command, as a shell says
        _die(f"{argv[0]!r}: command not found", 127)
    except PermissionError:
        _die(f"{argv[0]}: permission denied", 126)
    except OSError as exc:
        _die(f"{argv[0]}: {exc.strerror}", 126)


def _enter_netns(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise errors.NotFound(f"network namespace {name!r} not found")
    try:
        fd = os.open(os.path.join(NETNS_RUN_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise errors.NotFound(f"network namespace {name} not found") from None
    try:
        netns.setns(fd)
    except OSError as exc:
        raise netns.kernel_error(f"enter network namespace {name}", exc.errno or 0, "CAP_SYS_ADMIN") from exc
    finally:
        os.close(fd)


def _private_mounts(name: str) -> None:
    """Our own mount namespace, slave to the host's, so the /sys and /etc overlays below stay
    invisible to everything else and vanish with the command."""
    netns.unshare(netns.CLONE_NEWNS)
    netns.mount(None, "/", None, netns.MS_REC | netns.MS_SLAVE)
    _remount_sys(name)
    _bind_etc(name)


def _remount_sys(name: str) -> None:
    """A sysfs mounted now describes this namespace; a read-only /sys that cannot be
    unmounted can only be shadowed by another read-only one."""
    flags = 0
    try:
        netns.umount("/sys")
    except OSError:
        if os.path.isdir("/sys") and os.statvfs("/sys").f_flag & ST_RDONLY:
            flags = netns.MS_RDONLY
    netns.mount(name, "/sys", "sysfs", flags)


def _bind_etc(name: str) -> None:
    src_dir = os.path.join(NETNS_ETC_DIR, name)
    try:
        entries = sorted(os.listdir(src_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        target = os.path.join("/etc", entry)
        if os.path.exists(target):  # like ip: nothing to shadow, nothing to do
            netns.mount(os.path.join(src_dir, entry), target, None, netns.MS_BIND)


def _die(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"netctl: {message}\n")
    sys.stderr.flush()
    os._exit(code)
