"""glibc malloc thresholds for training loops: reuse freed memory instead of faulting it in anew.

A training step allocates and frees the same large activations every step. glibc's
defaults give memory above a sliding threshold back to the kernel when it is freed
(``mmap`` chunks, and the heap top above ``M_TRIM_THRESHOLD``), so every step faults
the same pages in again: at 128 px batch 8 a CycleGAN step spent almost twice the
system time of the reference implementation's (docs/benchmarks.md, "The allocator
gap"). Fixing both thresholds at start-up keeps chunks below 32 MiB on the heap and the
heap's freed top for the next step, which is what ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_`` would do, without asking users to set environment variables.
The price is that the process keeps up to ``trim`` bytes of freed heap instead of
returning it. No-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]

# mallopt parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# the largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 1024 * 2**20

_done: dict[str, int] | None = None


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD,
                trim_threshold: int = TRIM_THRESHOLD) -> dict[str, int] | None:
    """Set glibc's mmap and trim thresholds once for this process; what was set, or None.

    None when the C library is not glibc or refuses a value (then nothing is changed
    beyond what it accepted).
    """
    global _done
    if _done is not None:
        return _done
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if not mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold)):
        return None
    if not mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)):
        return None
    _done = {"mmap_threshold": int(mmap_threshold), "trim_threshold": int(trim_threshold)}
    return _done
