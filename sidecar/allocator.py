"""glibc's malloc, tuned for the buffers of a few hundred KB that every merged provider call makes and frees.

By default glibc serves blocks of 128 KiB and more with fresh `mmap()`s, and gives the top of its heap back to the
system as soon as it is free. A provider answer of a dozen 1536-float vectors (~400 KB), and the copies made of it
while it is read, are then page-faulted in anew on every call. Keeping blocks up to `MMAP_THRESHOLD` in the heap,
and up to `TRIM_THRESHOLD` of free heap in the process, halves the CPU of reading such an answer (see BENCHMARKS.md).
"""

from __future__ import annotations

import ctypes

MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024
# <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """True when glibc took both settings; False where there is no `mallopt` (musl, macOS): nothing changes there."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
