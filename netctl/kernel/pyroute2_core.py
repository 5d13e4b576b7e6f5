"""Import the part of pyroute2 netctl uses, not the whole library.

``pyroute2/__init__.py`` imports every public class of the library: NDB, IPDB, IPSet, IPVS,
nl80211, WireGuard, plan9, conntrack... 163 modules, of which rtnetlink (``IPRoute``) needs 99.
Python runs a package's ``__init__`` before any of its submodules, so every ``network
connect`` paid ~25-30 ms for code it never runs: more than all of netctl's own modules.

``core()`` registers ``pyroute2`` as a package whose ``__init__`` has not run yet (its
``__path__`` and spec are the real ones), so ``from pyroute2.iproute import IPRoute`` loads
just what rtnetlink needs.  The first access to any other attribute of the package (``from
pyroute2 import NDB`` anywhere else in the process) runs the real ``__init__`` into the same
module, so nothing that expects the full package breaks.  pyroute2's own code is used as it
is; nothing of it is copied or rewritten, and netlink.py stays the one module that imports
it (it also imports ``pyroute2.config.log`` first, as ``__init__`` does: pyroute2's logger
gets its NullHandler).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def core() -> None:
    """Make ``pyroute2`` importable without its eager ``__init__`` (see the module doc).  A
    no-op when it was imported already, or when it is not a plain package on disk."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return  # let the ordinary import say what is wrong
    package = types.ModuleType("pyroute2")
    package.__spec__, package.__file__ = spec, spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__loader__, package.__package__ = spec.loader, "pyroute2"

    def complete(name: str):
        """A submodule (``from pyroute2 import config`` asks for the attribute first): that
        module; any other name: run the real ``__init__`` now, and look it up there.  Other
        dunders are probes (``__wrapped__``, ``__test__``) that must not load the library;
        ``__version__`` and ``__all__`` (``import *``) are the package's own."""
        if name.startswith("__") and name not in ("__version__", "__all__"):
            raise AttributeError(name)
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = complete  # type: ignore[attr-defined]  (PEP 562)
    sys.modules["pyroute2"] = package
