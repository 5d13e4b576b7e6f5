"""libnftables through ctypes: the same batches as ``nft -f -``, without a process.

Measured (bench/firewall.py's batch, 2 CPUs under load): ``nft -f -`` as a subprocess takes
12-24 ms, ``nft_run_cmd_from_buffer`` on a kept context 0.1-1 ms.  Debian's
``python3-nftables`` wraps the same C calls but lives outside any venv, so netctl calls
them itself.  Absent library (no
``libnftables1``): ``load()`` returns None and nft.py runs the ``nft`` binary instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_LIB: list = []  # [CDLL] once loaded, [None] when there is none


def load():
    """The library, loaded once per process; None when missing (or NETCTL_NFT=binary)."""
    if not _LIB:
        _LIB.append(_open() if os.environ.get("NETCTL_NFT") != "binary" else None)
    return _LIB[0]


def _open():
    name = ctypes.util.find_library("nftables")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    for fn in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, fn).restype = ctypes.c_char_p
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    return lib


JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON


_CTX: dict[int, int] = {}  # pid -> nft_ctx: one per process (a fork makes its own)


def _context(lib) -> int:
    """The process's nft context, made on first use and never freed: freeing one costs
    ~12 ms (its netlink socket's release), which process exit pays once instead."""
    ctx = _CTX.get(os.getpid())
    if ctx is None:
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        _CTX[os.getpid()] = ctx
    return ctx


def run(lib, text: str, flags: int = 0) -> tuple[int, str, str]:
    """(return code, output, error text) of one buffer, as ``nft -f -`` would give them."""
    ctx = _context(lib)
    lib.nft_ctx_output_set_flags(ctx, flags)
    rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
    out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")  # (and reset)
    err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
    return (0 if rc == 0 else 1), out, err
