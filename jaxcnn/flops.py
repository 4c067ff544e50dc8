"""Analytic FLOP counts of the architectures, and the float32 peak of the machine's CPU.

A multiply-add counts as two FLOPs. Per image, a conv layer costs ``2 * H_out * W_out * k * k *
C_in * C_out`` and a linear layer ``2 * in * out``; pooling, activations and the loss are left out
(they are a few percent at most). A training step costs about three forward passes: the forward
itself, the gradient with respect to the activations and the gradient with respect to the
weights (the usual 1 + 2 rule).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax
import numpy as np
from flax import nnx


def forward_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one image's forward pass through ``model`` (input ``(H, W, C)``)."""
    flops = 0
    originals = {nnx.Conv: nnx.Conv.__call__, nnx.Linear: nnx.Linear.__call__}

    def counting(cls):
        def call(self, x):
            nonlocal flops
            out = originals[cls](self, x)
            flops += 2 * int(np.prod(out.shape[1:])) * int(np.prod(self.kernel.shape[:-1]))
            return out
        return call

    model.eval()
    try:
        for cls in originals:
            cls.__call__ = counting(cls)
        jax.eval_shape(model, jax.ShapeDtypeStruct((1, *input_shape), np.float32))
    finally:
        for cls, original in originals.items():
            cls.__call__ = original
        model.train()
    return flops


def train_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one image's training step (forward and backward), about 3x the forward."""
    return 3 * forward_flops(model, input_shape)


def cpu_peak_flops(cores: int | None = None) -> tuple[float, str]:
    """Theoretical peak float32 FLOP/s of this CPU and how it was derived.

    ``cores * GHz * lanes * 2 (FMA) * 2 FMA units``. Lanes: 8 float32 with 256-bit vectors (AVX2,
    and AMD Zen 2-4, which run AVX-512 on 256-bit units), 16 on Intel cores with AVX-512.
    """
    cores = cores or len(os.sched_getaffinity(0))
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""

    def field(name: str) -> str:
        found = re.search(rf"^{name}\s*:\s*(.*)$", text, re.MULTILINE)
        return found.group(1).strip() if found else ""

    flags = set(field("flags").split())
    ghz = float(field("cpu MHz") or "nan") / 1000
    wide = "avx512f" in flags and field("vendor_id") == "GenuineIntel"
    lanes = 16 if wide else 8 if "avx2" in flags else 4
    per_cycle = lanes * 2 * (2 if "fma" in flags else 1)
    how = (f"{cores} cores x {ghz:.2f} GHz x {per_cycle} float32 FLOP/cycle ({lanes} lanes x "
           f"{'FMA (2) x 2 units' if 'fma' in flags else '2 units'}; {field('model name')})")
    return cores * ghz * 1e9 * per_cycle, how
