"""The ``netctl`` command tree.  Commands are thin: parse, call a service, render."""

from .root import main

__all__ = ["main"]
