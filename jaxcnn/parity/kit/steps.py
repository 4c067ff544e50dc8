"""N optimizer steps side by side: torch.optim on the original, optax on the port."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx
from torch import nn

from jaxcnn.parity.kit import transfer
from jaxcnn.parity.kit.arrays import as_f64
from jaxcnn.parity.kit.compare import _cast, _flax_dtype, flax_module, pair_models, port_input
from jaxcnn.parity.kit.layers import TRAINABLE, flax_params
from jaxcnn.parity.kit.losses import LossPair, loss_pair, torch_labels
from jaxcnn.parity.kit.report import Row
from jaxcnn.parity.kit.tolerance import fan_in, layer_tolerance


def param_distance(torch_model: nn.Module, flax_model: nnx.Module, pairs, flatten: str
                   ) -> tuple[float, float]:
    """(max |Δ|, max |Δ| / max |parameter|) over every paired trainable parameter."""
    worst_abs = worst_scale = 0.0
    for pair in pairs:
        theirs = transfer.expected_flax_params(torch_model.get_submodule(pair.torch_name), pair,
                                               flatten)
        ours = flax_params(flax_module(flax_model, pair.flax_name), pair.kind)
        for suffix in TRAINABLE:
            if suffix in theirs and suffix in ours:
                worst_abs = max(worst_abs, float(np.max(np.abs(as_f64(ours[suffix])
                                                               - as_f64(theirs[suffix])))))
                worst_scale = max(worst_scale, float(np.max(np.abs(as_f64(theirs[suffix])))))
    return worst_abs, worst_abs / max(worst_scale, np.finfo(np.float64).tiny)


def compare_steps(torch_model: nn.Module, flax_model: nnx.Module,
                  batches: Sequence[tuple[np.ndarray, np.ndarray]], *,
                  loss: str | LossPair, torch_optimizer: Callable[..., torch.optim.Optimizer],
                  optax_tx: optax.GradientTransformation,
                  name_map: Mapping[str, str] | None = None, flatten: str = "hwc",
                  float64: bool = False) -> list[Row]:
    """Parameters after each of ``len(batches)`` steps from the same weights, one row a step.

    ``batches``: (x in PyTorch layout, targets); ``torch_optimizer(params)`` builds the
    PyTorch optimizer, ``optax_tx`` is the port's. Both models train in train mode (dropout
    must be off for a like-for-like run). ``float64`` runs copies of both in double precision
    (needs ``jax_enable_x64``). A step's tolerance is its step number times the gradient
    tolerance (:mod:`.tolerance`, with twice the total fan-in): rounding differences of
    successive steps add up.
    """
    torch_loss, jax_loss = loss_pair(loss)
    pairs = pair_models(torch_model, flax_model, batches[0][0], name_map=name_map,
                        flatten=flatten)
    precision = "float64" if float64 else "float32"
    t_model, f_model = _cast(torch_model, flax_model, precision) if float64 else \
        (torch_model, flax_model)
    t_model.train()
    f_model.train()
    dtype = next(t_model.parameters()).dtype
    optimizer = torch_optimizer(t_model.parameters())
    f_opt = nnx.Optimizer(f_model, optax_tx, wrt=nnx.Param)

    @nnx.jit
    def jax_step(model, opt, x, y):
        value, grads = nnx.value_and_grad(lambda m: jax_loss(m(x), y))(model)
        opt.update(model, grads)
        return value

    total = sum(fan_in(p.kind, t_model.get_submodule(p.torch_name)) for p in pairs)
    rows = []
    for step, (x, y) in enumerate(batches, start=1):
        optimizer.zero_grad(set_to_none=True)
        torch_loss(t_model(torch.from_numpy(np.asarray(x)).to(dtype)), torch_labels(y)).backward()
        optimizer.step()
        jax_step(f_model, f_opt, jnp.asarray(port_input(x), _flax_dtype(f_model)), jnp.asarray(y))
        worst_abs, worst_rel = param_distance(t_model, f_model, pairs, flatten)
        rows.append(Row(f"step {step}", (), worst_abs, worst_rel,
                        step * layer_tolerance(precision, 2 * len(pairs), 2 * total), "parameters"))
    return rows
