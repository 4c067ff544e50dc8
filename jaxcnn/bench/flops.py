"""Analytic FLOP counts of the architectures, and the float32 peak of the machine's CPU.

A multiply-add counts as two FLOPs. Per image, a conv layer costs ``2 * H_out * W_out * k * k *
C_in * C_out`` and a linear layer ``2 * in * out``; pooling, activations, the loss and the
optimiser update are left out (a few percent at most). Backward, every layer computes the
gradient of its weights (as many FLOPs as its forward) and, except the first layer (whose input
is the data), the gradient of its input (as many again): a training step costs
``3 * forward - forward(first layer)``, a little under the usual "3x the forward".
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import jax
import numpy as np
from flax import nnx


def layer_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> list[int]:
    """Forward FLOPs of one image through each conv / linear layer of ``model``, in call order."""
    flops: list[int] = []
    originals = {nnx.Conv: nnx.Conv.__call__, nnx.Linear: nnx.Linear.__call__}

    def counting(cls):
        def call(self, x):
            out = originals[cls](self, x)
            flops.append(2 * int(np.prod(out.shape[1:])) * int(np.prod(self.kernel.shape[:-1])))
            return out
        return call

    model.eval()
    try:
        for cls in originals:
            cls.__call__ = counting(cls)
        # A fresh function per call: a cached trace would not call the layers again.
        jax.eval_shape(lambda x: model(x), jax.ShapeDtypeStruct((1, *input_shape), np.float32))
    finally:
        for cls, original in originals.items():
            cls.__call__ = original
        model.train()
    return flops


def forward_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one image's forward pass through ``model`` (input ``(H, W, C)``)."""
    return sum(layer_flops(model, input_shape))


def train_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one image's training step: forward, weight gradients, and input gradients of
    every layer but the first (``3 * forward - forward(first layer)``)."""
    layers = layer_flops(model, input_shape)
    return 3 * sum(layers) - layers[0]


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
