"""Put the test doubles behind the product's factory functions: the fake kernel behind
``netctl.kernel.open_kernel``, FakeNft behind ``netctl.firewall.nft.open_nft``, a stand-in
for /etc/netns behind ``netctl.etcfiles.etc_dir``, and "may change networks" behind
``netctl.service.context.privileged`` (the fake needs no root).

The installed product has no test hook of its own: no environment variable, no fake
module.  Tests use this in-process (``install(path, monkeypatch.setattr)``, undone after the
test), in forked children (``forkrun``: the parent's patches are inherited) and in fresh
interpreters through ``fakenetctl.py``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

NFT = "netctl.firewall.nft"


def install(kernel_file: str | Path, patch: Callable[[object, str, object], None] | None = None) -> None:
    """Run netctl over the JSON-backed fake kernel at KERNEL_FILE, its nft tables in
    KERNEL_FILE.nft.json and its /etc/netns in etc-netns/ beside it.  With ``patch`` (a
    monkeypatch's setattr) the firewall layer is imported now; without, for the rest of the
    process, and the firewall layer is patched only when something imports it (a fresh
    interpreter keeps its lazy imports, which tests/unit/test_layering.py measures)."""
    import netctl.etcfiles
    import netctl.kernel
    import netctl.service.context
    from support.fakekernel import FakeKernel

    path = str(kernel_file)
    setter = patch or setattr
    setter(netctl.kernel, "open_kernel", lambda: FakeKernel(path))
    setter(netctl.etcfiles, "etc_dir", lambda: Path(path).parent / "etc-netns")
    setter(netctl.service.context, "privileged", lambda: True)
    if patch is not None or NFT in sys.modules:
        _fake_nft(importlib.import_module(NFT), path, setter)
    else:
        sys.meta_path.insert(0, _AfterImport(NFT, lambda module: _fake_nft(module, path, setattr)))


def _fake_nft(module, path: str, setter) -> None:
    from support.fakenft import FakeNft

    setter(module, "open_nft", lambda: FakeNft(path + ".nft.json"))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``then(module)`` right after NAME is first imported (once)."""

    def __init__(self, name: str, then: Callable[[object], None]):
        self.name, self.then = name, then

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        run, then = spec.loader.exec_module, self.then

        def exec_module(module):
            run(module)
            then(module)

        spec.loader.exec_module = exec_module
        return spec
