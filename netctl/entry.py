"""The ``netctl`` console script: a CNI plugin when the runtime set CNI_COMMAND (docs/cni.md),
the command-line tool otherwise.  Decided before click is imported, so a plugin exec never
pays for the CLI."""

import os


def main() -> None:
    if "CNI_COMMAND" in os.environ:
        from .cni.plugin import main as plugin
    else:
        from .cli import main as plugin
    plugin()
