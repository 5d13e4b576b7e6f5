"""The root group imports a subcommand's module only when that command is looked up
(issue 10 §4: a one-shot ``network connect`` must not build the apply, batch, sandbox...
command trees), while help, docs and completion still see every command."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from netctl.cli import main
loaded = lambda: sorted(m for m in sys.modules if m.startswith("netctl.cli."))
before = loaded()
main.get_command(None, "network")
print(json.dumps([before, loaded(), main.list_commands(None)]))
"""


def test_only_the_command_asked_for_is_imported():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    before, after, listed = json.loads(out)
    assert before == ["netctl.cli.root"]
    assert set(after) - set(before) <= {"netctl.cli.network", "netctl.cli.common", "netctl.cli.complete"}
    assert "netctl.cli.network" in after
    assert listed == ["apply", "batch", "check", "cni", "completion", "destroy", "endpoint", "gc",
                      "network", "restore", "sandbox", "status"]
