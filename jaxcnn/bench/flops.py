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

from jaxcnn.conv import plans
from jaxcnn.data import SPECS
from jaxcnn.net.registry import create_model
from jaxcnn.training.recipes import get_recipe


def layer_calls(model: nnx.Module, input_shape: tuple[int, ...], batch: int = 1) -> list[dict]:
    """Every conv / linear layer of ``model`` as the forward pass of a ``batch`` of
    ``input_shape`` images calls it, in call order: its ``name`` (attribute path), ``kind``
    (``conv`` / ``linear``), the ``layer`` itself, its ``input`` and ``output`` shapes (in the
    convolution plan's layout inside the model), the ``batch`` and the convolution ``plan``
    active at the call.
    The model is traced in eval mode (shapes only, nothing computed)."""
    names = {id(node): ".".join(map(str, path)) for path, node in nnx.iter_graph(model)
             if isinstance(node, nnx.Conv | nnx.Linear)}
    # Every class of such layers in the model (jaxcnn's Conv2d overrides nnx.Conv.__call__).
    classes = {type(node) for _, node in nnx.iter_graph(model)
               if isinstance(node, nnx.Conv | nnx.Linear)}
    calls: list[dict] = []
    originals = {cls: cls.__dict__.get("__call__") for cls in classes}

    def recording(cls):
        original = cls.__call__

        def call(self, x):
            out = original(self, x)
            calls.append({"name": names.get(id(self), type(self).__name__),
                          "kind": "conv" if isinstance(self, nnx.Conv) else "linear",
                          "layer": self, "input": tuple(x.shape), "output": tuple(out.shape),
                          "batch": batch, "plan": plans.active().name})
            return out
        return call

    model.eval()
    try:
        for cls in classes:
            cls.__call__ = recording(cls)
        # A fresh function per call: a cached trace would not call the layers again.
        jax.eval_shape(lambda x: model(x),
                       jax.ShapeDtypeStruct((batch, *input_shape), np.float32))
    finally:
        for cls, original in originals.items():
            if original is None:
                del cls.__call__
            else:
                cls.__call__ = original
        model.train()
    return calls


def layer_flops(model: nnx.Module, input_shape: tuple[int, int, int]) -> list[int]:
    """Forward FLOPs of one image through each conv / linear layer of ``model``, in call order."""
    return [call_flops(call) for call in layer_calls(model, input_shape)]


def call_flops(call: dict) -> int:
    """Forward FLOPs per image of one :func:`layer_calls` entry (any layout: the output's
    elements per image times the multiply-adds of each, ``k * k * C_in`` or ``in``)."""
    per_image = int(np.prod(call["output"])) // call["batch"]
    return 2 * per_image * int(np.prod(call["layer"].kernel.shape[:-1]))


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


def arch_flops(arch: str) -> dict[str, int]:
    """FLOPs per image of ``arch`` with its recipe's options on its data set's images:
    ``train`` (:func:`train_flops`) and ``forward``."""
    recipe = get_recipe(arch)
    model = create_model(arch, **recipe.model_options)
    shape = tuple(SPECS[recipe.dataset].image_shape)
    return {"train": train_flops(model, shape), "forward": forward_flops(model, shape)}
