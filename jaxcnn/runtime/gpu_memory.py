"""GPU memory when JAX and PyTorch share one GPU in a process.

JAX preallocates 75 % of a GPU's memory when its backend starts, which leaves PyTorch (and any
other process) little. :func:`share_with_torch` sets ``XLA_PYTHON_CLIENT_PREALLOCATE=false``, so
that JAX allocates as it goes, unless the user has set the variable (their choice stands). It
must run before JAX starts its backend (the first computation or ``jax.devices()``; importing
``jax`` is fine): jaxlib reads the variable when it creates the GPU client. The entry points that
put both frameworks on one GPU call it first: ``scripts/parity.py``, ``scripts/model_parity.py``,
``scripts/device_check.py`` and the test suite (``tests/conftest.py``). Plain training, one
framework per process, keeps JAX's preallocation.
"""

from __future__ import annotations

import os
import warnings

ENV_VAR = "XLA_PYTHON_CLIENT_PREALLOCATE"


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - jax always has it in the supported releases
        return False
    return bool(getattr(xla_bridge, "backends_are_initialized", lambda: False)())


def share_with_torch() -> str:
    """Turn JAX's GPU preallocation off unless ``$XLA_PYTHON_CLIENT_PREALLOCATE`` is set;
    return what holds, in words (warns if JAX's backend has started already)."""
    if ENV_VAR in os.environ:
        return f"{ENV_VAR}={os.environ[ENV_VAR]} (set by the user)"
    os.environ[ENV_VAR] = "false"
    if _backend_started():
        warnings.warn(f"{ENV_VAR}=false was set after JAX started its backend; it applies to "
                      "the next process only", stacklevel=2)
        return f"{ENV_VAR}=false (too late for this process: JAX had started)"
    return f"{ENV_VAR}=false (set by jaxcnn: JAX allocates GPU memory as needed)"
