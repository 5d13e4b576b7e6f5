"""Error classes and their exit codes.

Every failure netctl reports is one of these; the root click group turns it into a single
``netctl: <message>`` line on stderr and ``exit_code``.  Keeping the codes on the classes
means a layer deep down (IPAM, the kernel) decides what a script sees, without knowing
about click.
"""

from __future__ import annotations


class NetctlError(Exception):
    """Base class: an expected failure with a stable exit code."""

    exit_code = 1


class KernelError(NetctlError):
    """A netlink or namespace operation failed; ``errno`` is kept for branching."""

    exit_code = 1

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(message)
        self.errno = errno


class InvalidInput(NetctlError):
    exit_code = 2


class NotFound(NetctlError):
    exit_code = 3


class Conflict(NetctlError):
    exit_code = 4


class Exhausted(NetctlError):
    exit_code = 5


class PermissionDenied(NetctlError):
    exit_code = 6


class Busy(NetctlError):
    exit_code = 7


class StateError(NetctlError):
    exit_code = 8


class DriftFound(NetctlError):
    exit_code = 9


class InjectedFault(KernelError):
    """Raised by the fault-injection hook (``NETCTL_FAULT``) to prove rollback."""
