"""The machine's network stack behind the small ``Kernel`` protocol (see base.py).

Importing this package stays cheap: pyroute2 is imported only when a real kernel is opened.
"""

from __future__ import annotations

import os

from netctl.kernel.base import Kernel, Link, Route

__all__ = ["Kernel", "Link", "Route", "open_kernel"]

FAKE_ENV = "NETCTL_FAKE_KERNEL"


def open_kernel() -> Kernel:
    """The real kernel, or the JSON-backed fake when ``NETCTL_FAKE_KERNEL=<path>`` is set
    (so the CLI can be driven end to end without root)."""
    fake_path = os.environ.get(FAKE_ENV)
    if fake_path:
        from netctl.kernel.fake import FakeKernel

        return FakeKernel(fake_path)
    from netctl.kernel.netlink import NetlinkKernel

    return NetlinkKernel()
