"""Compare a PyTorch model and its Flax NNX port: every paired layer, the output, BatchNorm
statistics after a train-mode step, and the gradients of a loss."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxcnn.parity.kit import diagnose, transfer
from jaxcnn.parity.kit.arrays import as_f64, max_abs, rel_diff, to_port_layout
from jaxcnn.parity.kit.capture import LayerCall, capture_flax, capture_torch
from jaxcnn.parity.kit.kinks import kink_mask
from jaxcnn.parity.kit.layers import PARAM_NAMES, TRAINABLE, converter, flax_params
from jaxcnn.parity.kit.losses import LossPair, loss_pair, torch_labels
from jaxcnn.parity.kit.namemap import LayerPair, infer_name_map, layer_pairs
from jaxcnn.parity.kit.report import PortReport, Row
from jaxcnn.parity.kit.tolerance import describe, fan_in, layer_tolerance

TRANSFERS = ("to_flax", "to_torch", None)
_DTYPES = {"float64": (torch.float64, jnp.float64), "bfloat16": (torch.bfloat16, jnp.bfloat16),
           "float16": (torch.float16, jnp.float16)}


def port_input(x: np.ndarray) -> np.ndarray:
    """A channels-first PyTorch batch made channels-last for the port (N,C,... -> N,...,C)."""
    x = np.asarray(x)
    return x.transpose(0, *range(2, x.ndim), 1) if x.ndim >= 3 else x


def _first(calls: list[LayerCall]) -> dict[str, LayerCall]:
    out: dict[str, LayerCall] = {}
    for call in calls:
        out.setdefault(call.name, call)
    return out


def flax_module(model: nnx.Module, path: str) -> nnx.Module:
    """The sub-module of ``model`` at a dotted path (integers index lists)."""
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def pair_models(torch_model: nn.Module, flax_model: nnx.Module, x: np.ndarray, *,
                name_map: Mapping[str, str] | None = None, transfer_to: str | None = "to_flax",
                flatten: str = "hwc") -> list[LayerPair]:
    """Pair the layers of both models (``name_map`` entries kept, the rest inferred by call
    order and shape) and move the weights across: ``transfer_to="to_flax"`` (PyTorch's into the
    port), ``"to_torch"`` (the port's into PyTorch) or None (both keep theirs)."""
    if transfer_to not in TRANSFERS:
        raise ValueError(f"transfer_to={transfer_to!r}: choose one of {TRANSFERS}")
    if flatten not in ("hwc", "chw"):
        raise ValueError(f"flatten={flatten!r}: choose 'hwc' (the port flattens channels-last) "
                         "or 'chw'")
    # On copies in eval mode (a train-mode pass would move BatchNorm statistics), two samples.
    sample = np.asarray(x)[:2]
    t_calls, _ = capture_torch(copy.deepcopy(torch_model).eval(), torch.from_numpy(sample))
    f_copy = nnx.clone(flax_model)
    f_copy.eval()
    f_calls, _ = capture_flax(f_copy, jnp.asarray(port_input(sample)))
    pairs = layer_pairs(t_calls, f_calls, infer_name_map(t_calls, f_calls, name_map))
    if transfer_to == "to_flax":
        transfer.to_flax(torch_model, flax_model, pairs, flatten)
    elif transfer_to == "to_torch":
        transfer.to_torch(flax_model, torch_model, pairs, flatten)
    return pairs


def _cast(torch_model: nn.Module, flax_model: nnx.Module, precision: str):
    if precision not in _DTYPES:
        return torch_model, flax_model
    if precision == "float64" and not jax.config.jax_enable_x64:
        raise RuntimeError("precision='float64' needs jax.config.update('jax_enable_x64', True)")
    t_dtype, j_dtype = _DTYPES[precision]
    torch_model = copy.deepcopy(torch_model).to(t_dtype)
    flax_model = nnx.clone(flax_model)
    params = nnx.state(flax_model, nnx.Param)
    nnx.update(flax_model, jax.tree.map(lambda a: a.astype(j_dtype), params))
    return torch_model, flax_model


def compare_ports(torch_model: nn.Module, flax_model: nnx.Module, x: np.ndarray, *,
                  y: np.ndarray | None = None, loss: str | LossPair | None = None,
                  name_map: Mapping[str, str] | None = None, transfer_to: str | None = "to_flax",
                  flatten: str = "hwc", precision: str = "float32", mask_kinks: bool = False,
                  check_batchnorm: bool = True, train: bool = False) -> PortReport:
    """Compare ``torch_model`` and its port ``flax_model`` on the batch ``x`` (PyTorch layout;
    the port gets it channels-last), layer by layer.

    Weights move as :func:`pair_models` says. Both models are put in eval mode (train mode with
    ``train=True``). ``precision``: ``float32`` (as the models are), ``float64``, ``bfloat16``
    or ``float16`` (copies of both models and the batch cast to it) or ``tf32`` (as the models
    are, with TF32's tolerances, for GPUs that round matmul inputs). With ``y`` and ``loss``
    (``"ce"``, ``"nll"``, ``"mse"`` or a (torch, jax) pair) the gradients of every parameter
    are compared too, on the samples away from ReLU / max-pool kinks when ``mask_kinks``.
    """
    for model in (torch_model, flax_model):
        model.train() if train else model.eval()
    pairs = pair_models(torch_model, flax_model, x, name_map=name_map, transfer_to=transfer_to,
                        flatten=flatten)
    t_model, f_model = _cast(torch_model, flax_model, precision)
    x_t = torch.from_numpy(np.asarray(x)).to(next(t_model.parameters()).dtype)
    x_f = jnp.asarray(port_input(x), dtype=_flax_dtype(f_model))
    t_calls, t_out = capture_torch(t_model, x_t)
    f_calls, _ = capture_flax(nnx.clone(f_model) if train else f_model, x_f)
    f_out = np.asarray(nnx.jit(lambda m, v: m(v))(nnx.clone(f_model) if train else f_model, x_f))
    report = _layer_report(pairs, t_calls, f_calls, t_out, f_out, x, precision, flatten)
    report.samples = len(x)
    if check_batchnorm and any(p.kind == "batchnorm" for p in pairs):
        _batchnorm_step(report, pairs, t_model, f_model, x_t, x_f, precision)
    if loss is not None:
        if y is None:
            raise ValueError("loss given without targets y")
        _gradients(report, pairs, t_model, f_model, np.asarray(x), np.asarray(y),
                   loss_pair(loss), precision, flatten, mask_kinks)
    return report


def _flax_dtype(model: nnx.Module):
    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    return leaves[0].dtype if leaves else jnp.float32


def _layer_report(pairs, t_calls, f_calls, t_out, f_out, x, precision, flatten) -> PortReport:
    t_first, f_first = _first(t_calls), _first(f_calls)
    rows, tols, cumulative = [], [], 0
    for depth, pair in enumerate(pairs, start=1):
        t, f = t_first[pair.torch_name], f_first[pair.flax_name]
        cumulative += fan_in(pair.kind, t.module)
        tol = layer_tolerance(precision, depth, cumulative)
        theirs = to_port_layout(t.output, f.output.shape)
        rows.append(Row(f"{pair.torch_name} ↔ {pair.flax_name}", f.output.shape,
                        max_abs(f.output, theirs) if theirs is not None else float("inf"),
                        rel_diff(f.output, theirs), tol, pair.kind))
        tols.append(tol)
    out_theirs = to_port_layout(t_out, f_out.shape)
    output = Row("output", f_out.shape,
                 max_abs(f_out, out_theirs) if out_theirs is not None else float("inf"),
                 rel_diff(f_out, out_theirs), layer_tolerance(precision, len(pairs), cumulative))
    report = PortReport(precision, describe(precision), {p.torch_name: p.flax_name for p in pairs},
                        rows, output)
    bad = next((i for i, r in enumerate(rows) if not r.ok), None)
    if bad is None and not output.ok:
        last = rows[-1] if rows else None
        prev = (to_port_layout(t_first[pairs[-1].torch_name].output,
                               f_first[pairs[-1].flax_name].output.shape) if last
                else as_f64(port_input(x)))
        report.first_divergence = output
        report.diagnosis = diagnose.between_layers(
            pairs[-1].torch_name if pairs else "the input", prev, "the output", out_theirs,
            f_out, output.tolerance)
    elif bad is not None:
        report.first_divergence = rows[bad]
        report.diagnosis = _diagnose_row(pairs, bad, t_first, f_first, tols, x, flatten)
    return report


def _diagnose_row(pairs, i, t_first, f_first, tols, x, flatten) -> str:
    pair = pairs[i]
    t, f = t_first[pair.torch_name], f_first[pair.flax_name]
    t_in = to_port_layout(t.input, f.input.shape, pair.chw, flatten)
    in_tol = tols[i - 1] if i else tols[0]
    if rel_diff(f.input, t_in) > in_tol:
        if i:
            prev_pair = pairs[i - 1]
            prev = to_port_layout(t_first[prev_pair.torch_name].output,
                                  f_first[prev_pair.flax_name].output.shape)
            return diagnose.between_layers(prev_pair.torch_name, prev, pair.torch_name, t_in,
                                           f.input, in_tol)
        return diagnose.between_layers("the model input", as_f64(port_input(x)),
                                       pair.torch_name, t_in, f.input, in_tol)
    expected = transfer.expected_flax_params(t.module, pair, flatten)
    t_out = to_port_layout(t.output, f.output.shape)
    return diagnose.inside_layer(pair, t, f, t_in, t_out, expected, tols[i], flatten)


def _batchnorm_step(report, pairs, t_model, f_model, x_t, x_f, precision) -> None:
    """One train-mode forward on copies of both models, then each BatchNorm's running stats."""
    t_train = copy.deepcopy(t_model).train()
    f_train = nnx.clone(f_model)
    f_train.train()
    capture_torch(t_train, x_t)
    f_first = _first(capture_flax(f_train, x_f)[0])
    for pair in (p for p in pairs if p.kind == "batchnorm"):
        f_call = f_first[pair.flax_name]
        before = t_model.get_submodule(pair.torch_name)
        after_t = t_train.get_submodule(pair.torch_name)
        after_f = flax_params(flax_module(f_train, pair.flax_name), "batchnorm")
        count = f_call.input.size // f_call.input.shape[-1]
        tol = layer_tolerance(precision, 1, count)
        for suffix in ("running_mean", "running_var"):
            theirs = as_f64(getattr(after_t, suffix).detach().float().numpy())
            row = Row(f"{pair.torch_name}.{suffix} ↔ {pair.flax_name}."
                      f"{PARAM_NAMES['batchnorm'][suffix]}", theirs.shape,
                      max_abs(after_f[suffix], theirs), rel_diff(after_f[suffix], theirs), tol,
                      "batchnorm")
            report.batchnorm.append(row)
        if not all(r.ok for r in report.batchnorm[-2:]):
            report.batchnorm_diagnoses.append(
                diagnose.batchnorm_update(pair, before, f_call.input, after_f, tol))


def _gradients(report, pairs, t_model, f_model, x, y, losses: LossPair, precision, flatten,
               mask_kinks) -> None:
    keep = kink_mask(t_model, x) if mask_kinks else np.ones(len(x), bool)
    rows, losses_found = _gradient_rows(pairs, t_model, f_model, x[keep], y[keep], losses,
                                        precision, flatten)
    report.gradients, report.losses = rows, losses_found
    if mask_kinks:
        report.gradient_note = (f"{int(keep.sum())} of {len(x)} samples kept: the others have a "
                                "ReLU input or a max-pool near-tie within 1e-6 (float64).")
    elif not all(r.ok for r in rows):
        keep = kink_mask(t_model, x)
        masked, _ = _gradient_rows(pairs, t_model, f_model, x[keep], y[keep], losses,
                                   precision, flatten)
        if keep.sum() and all(r.ok for r in masked):
            report.gradient_note = (
                f"Kinks: on the {int(keep.sum())} of {len(x)} samples with no ReLU input or "
                f"max-pool near-tie within 1e-6 the gradients agree; the others sit on a kink "
                f"where rounding picks the side (a ReLU at 0 or a pooling tie rule), not a "
                f"porting error: compare with mask_kinks=True.")
        else:
            report.gradient_note = ("Gradients differ on samples away from kinks too: a porting "
                                    "difference in the backward pass or the loss.")


def gradient_arrays(pairs: list[LayerPair], torch_model: nn.Module, flax_model: nnx.Module,
                    x: np.ndarray, y: np.ndarray, loss: str | LossPair, flatten: str = "hwc"
                    ) -> tuple[tuple[float, float], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """((port loss, PyTorch loss), port gradients, PyTorch gradients) of every paired trainable
    parameter, both by PyTorch ``state_dict`` name and in PyTorch's layout. The models run in
    their current mode (a train-mode pass updates BatchNorm statistics, as a step would)."""
    torch_loss, jax_loss = loss_pair(loss)
    dtype = next(torch_model.parameters()).dtype
    torch_model.zero_grad()
    value = torch_loss(torch_model(torch.from_numpy(np.asarray(x)).to(dtype)), torch_labels(y))
    value.backward()
    t_grads = {n: p.grad.detach().float().numpy().copy()
               for n, p in torch_model.named_parameters()}
    x_f = jnp.asarray(port_input(x), dtype=_flax_dtype(flax_model))

    @nnx.jit
    def value_and_grad(model, inputs, targets):
        return nnx.value_and_grad(lambda m: jax_loss(m(inputs), targets))(model)

    f_loss, grads = value_and_grad(flax_model, x_f, jnp.asarray(y))
    clone = nnx.clone(flax_model)
    nnx.update(clone, grads)
    f_grads = {}
    for pair in pairs:
        _, back = converter(pair.kind, pair.chw, flatten)
        ours = flax_params(flax_module(clone, pair.flax_name), pair.kind)
        for suffix in TRAINABLE:
            name = f"{pair.torch_name}.{suffix}"
            if name in t_grads and suffix in ours:
                f_grads[name] = back(ours[suffix]) if suffix == "weight" else ours[suffix]
    return (float(f_loss), float(value.detach())), f_grads, t_grads


def _gradient_rows(pairs, t_model, f_model, x, y, losses: LossPair, precision, flatten):
    found, f_grads, t_grads = gradient_arrays(pairs, t_model, f_model, x, y, losses, flatten)
    total = sum(fan_in(p.kind, t_model.get_submodule(p.torch_name)) for p in pairs)
    tol = layer_tolerance(precision, 2 * len(pairs), 2 * total)
    rows = []
    for pair in pairs:
        names = [n for n in (f"{pair.torch_name}.{s}" for s in TRAINABLE) if n in f_grads]
        # A layer's gradients are judged against its largest entry: a bias gradient that
        # cancels to ~0 keeps the rounding error of the terms it summed.
        scale = max(float(np.max(np.abs(t_grads[n]))) for n in names)
        for name in names:
            gap = max_abs(f_grads[name], t_grads[name])
            rows.append(Row(name, t_grads[name].shape, gap,
                            gap / max(scale, np.finfo(np.float64).tiny), tol, pair.kind))
    return rows, found
