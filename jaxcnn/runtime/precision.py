"""The float32 precision policy of convolutions and matrix products, for both frameworks.

On NVIDIA GPUs since Ampere both frameworks may run float32 convolutions and matmuls in TF32
(a 10-bit mantissa, unit roundoff 2^-11): JAX does so for both at its default precision, PyTorch
for convolutions by default (``torch.backends.cudnn``) and for matmuls only when asked. On a CPU
every policy computes in true float32. The policies:

* ``default``: each framework's own default (on a GPU: JAX TF32 for convs and dots, PyTorch TF32
  for convs, float32 for matmuls). What training uses unless told otherwise: TF32 is a fair
  speed choice for training, and the run's ``config.json`` records the policy.
* ``highest``: true float32 in both (JAX ``jax_default_matmul_precision="highest"``; PyTorch's
  TF32 switches off for cuDNN convolutions and CUDA matmuls). Every comparison of the two
  frameworks runs under it (:func:`parity`).
* ``tf32``: TF32 in both, for convolutions and matmuls (JAX ``"tensorfloat32"``).

Choose with ``$JAXCNN_PRECISION`` or ``--precision`` (``scripts/train.py``). The JAX setting is
a trace-time configuration value, so it reaches every dot and convolution the models trace, the
formulations of :mod:`jaxcnn.conv` included; PyTorch's switches are process-wide. Newer PyTorch
releases (2.9 and later) set TF32 through ``fp32_precision`` attributes and refuse to mix them
with the older ``allow_tf32`` switches; this module uses the newer ones where they exist.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import jax

ENV_VAR = "JAXCNN_PRECISION"
POLICIES = ("default", "highest", "tf32")
DEFAULT = "default"
PARITY = "highest"

# JAX's jax_default_matmul_precision per policy (None: JAX's own default).
_JAX = {"default": None, "highest": "highest", "tf32": "tensorfloat32"}
# PyTorch's fp32_precision per policy (None: leave PyTorch's switches as they are).
_TORCH = {"default": None, "highest": "ieee", "tf32": "tf32"}


def check(name: str, source: str = ENV_VAR) -> str:
    """``name`` if it is a policy, else a ``ValueError`` naming ``source`` and the choices."""
    if name not in POLICIES:
        raise ValueError(f"{source}={name!r}: choose one of {', '.join(POLICIES)}")
    return name


def requested(flag: str | None = None) -> str:
    """The policy asked for: ``flag`` (``--precision``), else ``$JAXCNN_PRECISION``, else
    ``default``."""
    if flag is not None:
        return check(flag, "--precision")
    return check(os.environ.get(ENV_VAR) or DEFAULT)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _torch_switches(torch) -> dict[str, object]:
    """Attribute holder and name of each PyTorch TF32 switch this release has."""
    backends = torch.backends
    if hasattr(backends.cudnn, "conv") and hasattr(backends.cudnn.conv, "fp32_precision"):
        return {"cudnn.conv.fp32_precision": (backends.cudnn.conv, "fp32_precision"),
                "cuda.matmul.fp32_precision": (backends.cuda.matmul, "fp32_precision")}
    return {"cudnn.allow_tf32": (backends.cudnn, "allow_tf32"),
            "cuda.matmul.allow_tf32": (backends.cuda.matmul, "allow_tf32")}


def torch_state(*, load: bool = True) -> dict[str, object]:
    """PyTorch's TF32 switches as they are now (empty without PyTorch, or when ``load`` is
    false and nothing has imported PyTorch yet)."""
    torch = _torch() if load else sys.modules.get("torch")
    if torch is None:
        return {}
    return {name: getattr(holder, attr) for name, (holder, attr) in _torch_switches(torch).items()}


def _set_torch(policy: str) -> None:
    value = _TORCH[policy]
    if value is None:  # PyTorch's own default: nothing to set, no need to import it
        return
    torch = _torch()
    if torch is None:
        return
    for holder, attr in _torch_switches(torch).values():
        setattr(holder, attr, value if attr == "fp32_precision" else value == "tf32")


def _restore_torch(saved: dict[str, object]) -> None:
    torch = _torch()
    if torch is None:
        return
    for name, (holder, attr) in _torch_switches(torch).items():
        setattr(holder, attr, saved[name])


def apply(policy: str, *, torch: bool = True) -> dict:
    """Make ``policy`` the process's setting in JAX and (if installed) PyTorch; return
    :func:`describe`'s record of it. ``torch=False`` (a JAX-only run) leaves PyTorch unimported
    (importing it takes seconds) unless something else has imported it already."""
    check(policy, "precision")
    if _JAX[policy] is not None:
        jax.config.update("jax_default_matmul_precision", _JAX[policy])
    if torch or "torch" in sys.modules:
        _set_torch(policy)
    return describe(policy, torch=torch)


@contextlib.contextmanager
def policy(name: str) -> Iterator[dict]:
    """Run the block under policy ``name`` in both frameworks; the previous JAX precision and
    PyTorch switches come back afterwards, also on an exception. Yields :func:`describe`'s
    record. JAX reads the setting when it traces, so functions must be traced (jitted) inside."""
    check(name, "precision")
    saved = torch_state()
    value = _JAX[name]
    try:
        with jax.default_matmul_precision(value) if value else contextlib.nullcontext():
            _set_torch(name)
            yield describe(name)
    finally:
        _restore_torch(saved)


def parity() -> contextlib.AbstractContextManager[dict]:
    """The policy of every cross-framework comparison: true float32 in both (``highest``)."""
    return policy(PARITY)


def describe(name: str, *, torch: bool = True) -> dict:
    """What policy ``name`` means now, for ``config.json`` and reports (PyTorch's switches empty
    when ``torch`` is false and PyTorch was not imported)."""
    return {"policy": name, "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "torch": {k: str(v) for k, v in torch_state(load=torch).items()}}
