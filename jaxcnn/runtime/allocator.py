"""Keep glibc from handing XLA's large scratch buffers back to the OS after every call.

By default glibc serves allocations above a threshold (128 KiB, raised dynamically up to 32 MiB)
with ``mmap`` and frees them with ``munmap``, and trims the heap top when it exceeds 128 KiB. A
jitted CPU training step allocates and frees the same large temporaries at every call, so each
step pays for fresh pages again (page faults and zeroing). :func:`configure` sets, through
``mallopt``, what the environment variables ``MALLOC_MMAP_MAX_=0``,
``MALLOC_TRIM_THRESHOLD_=4 GiB`` and ``MALLOC_TOP_PAD_=256 MiB`` would: every allocation comes
from the heap, and freed memory stays with the process for the next step. The cost: the process
keeps its peak memory until it exits.

It runs when :mod:`jaxcnn` is imported, on Linux with glibc only, and changes nothing when
``JAXCNN_MALLOC=default`` or any of those ``MALLOC_*_`` variables is set (glibc has read them),
nor when JAX is going to compute on an accelerator (:func:`accelerator_expected`): the tuning is
for XLA:CPU's buffers, and on a GPU it would only keep host memory. That is decided before JAX
starts (starting it at import would fix its settings too early), from ``$JAX_PLATFORMS`` if set,
else from a JAX GPU plugin being installed with an NVIDIA or AMD device node present.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import pkgutil
import platform
from pathlib import Path

ENV_VAR = "JAXCNN_MALLOC"
# mallopt parameters from glibc's malloc.h
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
SETTINGS = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 4 << 30, M_TOP_PAD: 256 << 20}
_GLIBC_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                    "MALLOC_MMAP_THRESHOLD_")

state = "not configured"


_DEVICE_NODES = ("/dev/nvidiactl", "/dev/kfd")  # NVIDIA's and AMD's (ROCm) driver nodes


def accelerator_expected(platforms: str | None = None, plugins: list[str] | None = None,
                         device_nodes: tuple[str, ...] = _DEVICE_NODES) -> bool:
    """Whether JAX is going to run on a GPU (or TPU), judged without starting it: the first of
    ``platforms`` (default ``$JAX_PLATFORMS``) if given, else whether a GPU plugin is installed
    (``plugins``: default, the modules of the ``jax_plugins`` namespace) and a device node
    exists."""
    platforms = os.environ.get("JAX_PLATFORMS", "") if platforms is None else platforms
    if platforms.strip():
        return platforms.split(",")[0].strip().lower() != "cpu"
    if plugins is None:
        spec = importlib.util.find_spec("jax_plugins")
        plugins = ([m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)]
                   if spec and spec.submodule_search_locations else [])
    has_plugin = any(name.startswith(("xla_cuda", "xla_rocm")) for name in plugins)
    return has_plugin and any(Path(node).exists() for node in device_nodes)


def configure() -> str:
    """Apply :data:`SETTINGS` unless opted out; return (and keep in :data:`state`) what was done."""
    global state
    if os.environ.get(ENV_VAR, "") == "default":
        state = f"glibc defaults ({ENV_VAR}=default)"
    elif any(name in os.environ for name in _GLIBC_VARIABLES):
        state = "glibc settings from the environment (MALLOC_*_)"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        state = "unchanged (not Linux with glibc)"
    elif accelerator_expected():
        state = "glibc defaults (JAX runs on an accelerator: the tuning is for XLA:CPU)"
    else:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(param, value) == 1 for param, value in SETTINGS.items())
        state = ("mmap off, trim threshold 4 GiB, top pad 256 MiB" if ok
                 else "mallopt refused the settings; glibc defaults")
    return state
