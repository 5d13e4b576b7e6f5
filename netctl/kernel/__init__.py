"""The machine's network stack behind the small ``Kernel`` protocol (see base.py).

Importing this package stays cheap: pyroute2 is imported only when a real kernel is opened.
"""

from __future__ import annotations

from netctl.kernel.base import Kernel, Link, Route

__all__ = ["Kernel", "Link", "Route", "open_kernel"]


def open_kernel() -> Kernel:
    """The machine's kernel: the one factory the services call (looked up at call time, so
    tests put their fake kernel behind it; tests/support/fakehooks.py)."""
    from netctl.kernel.netlink import NetlinkKernel

    return NetlinkKernel()
