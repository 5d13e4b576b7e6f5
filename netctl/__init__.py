"""netctl: container networking without a daemon, in libnetwork's model."""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it, so a source checkout knows it too
