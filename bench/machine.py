"""What a benchmark figure depends on: the BLAS kernel, the threads and the load.

Every section records this beside its figures, because on a shared machine a
ratio means little without the load at the time it was measured.
"""
from __future__ import annotations

import os

FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def load() -> str:
    """The 1-minute load average over the cores, as `uptime` would show it."""
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


def numpy_kernel() -> str:
    """The BLAS NumPy runs, e.g. 'openblas 0.3.31 SkylakeX, 2 threads'."""
    import numpy  # noqa: F401  (loads its BLAS so threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return "no BLAS found"
    i = blas[0]
    forced = [f"{v}={os.environ[v]}" for v in FORCING if v in os.environ]
    return (f"{i['internal_api']} {i.get('version')} {i.get('architecture')}, {i['num_threads']} threads"
            + (f" (forced by {' '.join(forced)})" if forced else ""))


def torch_kernel() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return (f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads")


def describe() -> dict:
    return {"numpy kernel": numpy_kernel(), "torch kernel": torch_kernel(), "load": load()}
