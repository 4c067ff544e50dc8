"""Where jaxcnn keeps what it can reuse between processes, and JAX's compilation cache there.

``$JAXCNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxcnn``, else ``~/.cache/jaxcnn`` holds the measured
convolution plans (``conv-plans.json``) and, once :func:`enable_compilation_cache` has run (the
scripts call it), JAX's persistent compilation cache (``xla/``): a later process then loads the
compiled training step, evaluation and even the model's initialisation instead of compiling them
again.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV_VAR = "JAXCNN_CACHE_DIR"
COMPILATION_ENV_VAR = "JAXCNN_COMPILATION_CACHE"


def cache_root() -> Path:
    """jaxcnn's cache folder (see the module docstring); not created here."""
    root = os.environ.get(ENV_VAR)
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxcnn"


def enable_compilation_cache() -> str:
    """Turn on JAX's persistent compilation cache in ``cache_root()/xla`` for every compilation,
    however short; return what was done. ``JAXCNN_COMPILATION_CACHE=0`` leaves it off, and a
    cache folder already set for JAX (``JAX_COMPILATION_CACHE_DIR``) is kept."""
    if os.environ.get(COMPILATION_ENV_VAR) == "0":
        return f"off ({COMPILATION_ENV_VAR}=0)"
    folder = jax.config.jax_compilation_cache_dir
    if not folder:
        folder = str(cache_root() / "xla")
        jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
