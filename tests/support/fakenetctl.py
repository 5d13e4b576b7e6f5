"""``python tests/support/fakenetctl.py ARGS``: the ``netctl`` CLI in a fresh interpreter over
the fake kernel whose JSON file ``FAKE_KERNEL_FILE`` names (fakehooks.install), for tests that
need a real process (exit without teardown, hostile config files, lazy imports) but no root.

The variable is this runner's, not netctl's: the installed product reads no such thing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "FAKE_KERNEL_FILE"
TESTS = Path(__file__).resolve().parent.parent
SCRIPT = str(Path(__file__).resolve())


def command(*args: str) -> list[str]:
    """The argv that runs ``netctl ARGS`` through this runner."""
    return [sys.executable, SCRIPT, *args]


def main() -> None:
    """Install the fake from ``$FAKE_KERNEL_FILE`` and run the CLI's entry point."""
    for path in (str(TESTS.parent), str(TESTS)):  # this tree's netctl, and ``support``
        if path not in sys.path:
            sys.path.insert(0, path)
    from support import fakehooks

    fakehooks.install(os.environ[ENV])
    from netctl.cli import main as netctl

    sys.argv[0] = "netctl"
    netctl()


if __name__ == "__main__":
    main()
