"""Where the float32 gradients of the two frameworks part, measured against float64.

On the first GPU run (docs/gpu.md) four parity tests failed: the loss gradients of ``padded``
with max and lp2 pooling, JAX on the GPU against PyTorch on the CPU, a few elements 2 % apart,
while every other architecture agreed to 1e-6. This section says which side is off and where:
per paired layer, each framework's float32 output against a float64 PyTorch reference on the
CPU (largest difference, its size against the layer's largest value, and how many ReLU inputs
have the other sign than the reference's), then per parameter the gradient errors of each side
against float64 and the elements that fail the parity tests' ``rtol 1e-4, atol 1e-6``. The
images are the parity tests' (real test images, ``ToTensor`` scaling), screened for kinks in
float64 as the tests screen them.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import torch

from jaxcnn.data import load, to_tensor
from jaxcnn.parity import kit
from jaxcnn.parity.kit.arrays import to_port_layout
from jaxcnn.parity.kit.capture import capture_flax, capture_torch
from jaxcnn.parity.kit.losses import loss_pair, torch_labels
from jaxcnn.parity.variants import LOSSES, example_batch, make_pair
from jaxcnn.runtime import precision

# (row name, architecture, options): the failing variants, the passing avg form, a control.
CASES = (("padded-max", "padded", {"pool": "max"}), ("padded-lp2", "padded", {"pool": "lp2"}),
         ("padded-avg", "padded", {"pool": "avg"}), ("lenet", "lenet", {}))
RTOL, ATOL = 1e-4, 1e-6  # tests/test_parity_forward.py's gradient tolerance


def _errors(ours: np.ndarray, reference: np.ndarray) -> dict:
    """Largest |ours - reference|, over the reference's largest |value|, and sign flips."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    gap = float(np.abs(ours - reference).max())
    flips = int(np.sum((np.sign(ours) != np.sign(reference)) & (reference != 0) & (ours != 0)))
    return {"max_abs": gap, "max_rel": gap / max(float(np.abs(reference).max()), 1e-300),
            "sign_flips": flips}


def _gradient_errors(ours: np.ndarray, theirs: np.ndarray, reference: np.ndarray) -> dict:
    """``ours`` (JAX) and ``theirs`` (PyTorch float32) against the float64 ``reference``, and
    the elements of ``ours`` outside the parity tests' tolerance around ``theirs``."""
    outside = np.abs(ours - theirs) > ATOL + RTOL * np.abs(theirs)
    return {"jax_vs_f64": _errors(ours, reference)["max_rel"],
            "torch_vs_f64": _errors(theirs, reference)["max_rel"],
            "jax_vs_torch_max_abs": float(np.abs(ours - theirs).max()),
            "elements_outside_tolerance": int(outside.sum()), "elements": int(outside.size)}


def diagnose_case(arch: str, options: dict, x: np.ndarray, y: np.ndarray) -> dict:
    """One variant on NCHW images ``x``: layer and gradient errors of both frameworks."""
    flax_model, torch_model = make_pair(arch, options, init="torch")
    pairs = kit.pair_models(torch_model, flax_model, example_batch(options), transfer_to=None)
    keep = kit.kink_mask(torch_model, x)
    reference = copy.deepcopy(torch_model).double()
    ref_calls, _ = capture_torch(reference, torch.from_numpy(x).double())
    t_calls, _ = capture_torch(torch_model, torch.from_numpy(x))
    f_calls, _ = capture_flax(flax_model, jnp.asarray(kit.port_input(x)))
    first = {c.name: c for c in ref_calls}, {c.name: c for c in t_calls}, \
        {c.name: c for c in f_calls}
    layers = {}
    for pair in pairs:
        ref, theirs, ours = (calls[name] for calls, name in zip(
            first, (pair.torch_name, pair.torch_name, pair.flax_name), strict=True))
        ref_port = to_port_layout(ref.output, ours.output.shape)
        layers[pair.torch_name] = {"jax": _errors(ours.output, ref_port),
                                   "torch": _errors(theirs.output, ref.output)}
    kind = LOSSES[arch]
    _, jax_g, torch_g = kit.gradient_arrays(pairs, torch_model, flax_model, x[keep], y[keep],
                                            kind)
    reference.zero_grad()
    loss_pair(kind)[0](reference(torch.from_numpy(x[keep]).double()),
                       torch_labels(y[keep])).backward()
    ref_g = {n: p.grad.numpy() for n, p in reference.named_parameters()}
    gradients = {name: _gradient_errors(jax_g[name], torch_g[name], ref_g[name])
                 for name in torch_g if name in jax_g}
    return {"images": len(x), "grad_images": int(keep.sum()), "loss": kind, "layers": layers,
            "gradients": gradients,
            "elements_outside_tolerance": sum(g["elements_outside_tolerance"]
                                              for g in gradients.values())}


def gradient_diagnosis(data_dirs: dict[str, str], images: int) -> dict:
    """Every case of :data:`CASES` on ``images`` MNIST test images, under ``highest``."""
    data = load("mnist", "test", data_dir=data_dirs.get("mnist"))
    x = np.ascontiguousarray(to_tensor(data.images[:images]).transpose(0, 3, 1, 2))
    y = np.asarray(data.labels[:images], np.int64)
    with precision.policy("highest") as setting:
        rows = {name: diagnose_case(arch, options, x, y) for name, arch, options in CASES}
    return {"precision": setting, "tolerance": f"rtol {RTOL}, atol {ATOL}", "cases": rows}


CHILD = ("import json, sys\n"
         "from jaxcnn.devcheck.diagnosis import gradient_diagnosis\n"
         "print(json.dumps(gradient_diagnosis(json.loads(sys.argv[1]), int(sys.argv[2]))))")


def in_child(data_dirs: dict[str, str], images: int, xla_flags: str, timeout: float) -> dict:
    """:func:`gradient_diagnosis` in a fresh process with ``xla_flags`` added to ``XLA_FLAGS``
    (flags are read once, when JAX starts its backend)."""
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {xla_flags}".strip())
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(data_dirs), str(images)],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        return {"xla_flags": env["XLA_FLAGS"], "error": done.stderr[-2000:]}
    return {"xla_flags": env["XLA_FLAGS"], **json.loads(done.stdout.splitlines()[-1])}
