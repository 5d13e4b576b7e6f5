"""The quick exit (issue 10 §4) must not hide an unclosed netlink socket: with the ordinary
interpreter teardown switched back on (``NETCTL_SLOW_EXIT=1``), a changing command on the
real kernel still leaves no event loop for the teardown to find (test_clean_exit's check,
which the quick exit would otherwise make vacuous)."""

from __future__ import annotations

import subprocess
import sys

from netctl_runner import Netctl


def test_sockets_are_closed_before_an_ordinary_exit(tmp_path):
    runner = Netctl(tmp_path / "state.toml")
    env = {**runner.env, "NETCTL_SLOW_EXIT": "1"}
    try:
        for args in (("network", "create", "qn"), ("sandbox", "create", "qs"),
                     ("network", "connect", "qn", "qs"), ("sandbox", "rm", "qs"), ("network", "rm", "qn")):
            argv = [sys.executable, "-W", "always::ResourceWarning", "-m", "netctl", *args]
            proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=60)
            assert (proc.returncode, proc.stderr) == (0, ""), f"netctl {' '.join(args)}"
    finally:
        runner.teardown()
