"""Why the first divergent layer differs: each diagnosis is a re-computation that makes the
difference vanish, never a guess from names.

* Between layers (the layer's input already differs while the previous layer's output agrees):
  the operations in between are searched over compositions of activations (ReLU, GELU exact and
  tanh, SiLU, tanh, sigmoid, ...), 2×2 pooling (max, average), flatten (H,W,C or C,H,W order) and
  axis swaps, applied to the previous output; the composition that gives PyTorch's input and the
  one that gives the port's are reported.
* Inside a layer (equal inputs, different outputs): the port's weights are compared with the
  PyTorch layer's correctly converted ones and with named mis-conversions (kernel not transposed,
  in/out swapped, spatially transposed or flipped, linear weight not transposed, flatten rows in
  the other order), and the layer is re-run with the correct weights; a convolution is re-run
  with PyTorch's explicit symmetric padding, a norm with PyTorch's epsilon, and the PyTorch layer
  is re-computed with its inputs rounded to TF32 / bfloat16 / float16 mantissas.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from scipy import special

from jaxcnn.parity.kit.arrays import as_f64, rel_diff, round_mantissa, to_port_layout
from jaxcnn.parity.kit.capture import LayerCall
from jaxcnn.parity.kit.layers import (
    PARAM_NAMES,
    chw_rows_to_hwc,
    conv_to_flax,
    flax_params,
)
from jaxcnn.parity.kit.namemap import LayerPair
from jaxcnn.parity.kit.tolerance import MANTISSA_BITS

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "ReLU": lambda x: np.maximum(x, 0.0),
    "GELU (exact, erf)": lambda x: 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0))),
    "GELU (tanh approximation)":
        lambda x: 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))),
    "SiLU": lambda x: x * special.expit(x),
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "LeakyReLU(0.01)": lambda x: np.where(x >= 0, x, 0.01 * x),
    "softmax": lambda x: special.softmax(x, axis=-1),
    "log_softmax": lambda x: special.log_softmax(x, axis=-1),
}


def _pool(x: np.ndarray, kind: str) -> np.ndarray:
    n, h, w, c = x.shape
    windows = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    return windows.max(axis=(2, 4)) if kind == "max" else windows.mean(axis=(2, 4))


def _candidates(prev: np.ndarray, target_shape: tuple
                ) -> list[tuple[str, np.ndarray]]:
    """(description, array) for each composition applied to ``prev`` that has target_shape."""
    out = []
    pools = ("none", "max", "avg") if prev.ndim == 4 else ("none",)
    posts = ("identity", "ReLU")
    for act, pool, post in itertools.product(ACTIVATIONS, pools, posts):
        if pool == "none" and post != "identity":
            continue
        y = ACTIVATIONS[act](prev)
        steps = [] if act == "identity" else [act]
        if pool != "none":
            if y.shape[1] < 2 or y.shape[2] < 2:
                continue
            y = _pool(y, pool)
            steps.append(f"{pool}-pool 2×2")
            if post != "identity":
                y = ACTIVATIONS[post](y)
                steps.append(post)
        shaped = []
        if y.shape == target_shape:
            shaped.append((steps, y))
        if y.ndim == 4 and len(target_shape) == 2 and math.prod(y.shape[1:]) == target_shape[1]:
            shaped.append((steps + ["flatten in H,W,C order"], y.reshape(y.shape[0], -1)))
            shaped.append((steps + ["flatten in C,H,W order"],
                           y.transpose(0, 3, 1, 2).reshape(y.shape[0], -1)))
        if y.ndim == 3 and y.shape[::-1][:2] == target_shape[::-1][:2][::-1] \
                and y.shape != target_shape:
            shaped.append((steps + ["swap of the last two axes"], y.swapaxes(1, 2)))
        out.extend((" → ".join(s) or "nothing (identity)", v) for s, v in shaped)
    return out


def _identify(prev: np.ndarray, target: np.ndarray, tol: float) -> str | None:
    """The first (simplest) composition that turns ``prev`` into ``target`` within ``tol``."""
    found = [d for d, v in _candidates(prev, target.shape) if rel_diff(v, target) <= tol]
    return min(found, key=lambda d: d.count("→")) if found else None


def between_layers(prev_name: str, prev_out: np.ndarray, layer: str, torch_in: np.ndarray | None,
                   flax_in: np.ndarray, tol: float) -> str:
    """Diagnosis when ``layer``'s input differs but ``prev_name``'s output agreed."""
    if torch_in is None:
        return (f"the input of {layer} has shape {flax_in.shape} in the port, which no layout of "
                f"PyTorch's input fits")
    theirs = _identify(prev_out, torch_in, tol)
    ours = _identify(prev_out, as_f64(flax_in), tol)
    where = f"between {prev_name} and {layer}"
    if theirs and ours:
        return f"{where}: PyTorch computes {theirs}, the port {ours}{_hint(theirs, ours)}"
    if theirs:
        return (f"{where}: PyTorch computes {theirs}; the port's input is none of the "
                f"compositions tried (activations, 2×2 pools, flatten orders, axis swaps)")
    return (f"the input of {layer} differs, by an operation between {prev_name} and {layer} "
            f"that the kit does not model (residual sum, reshape, ...)")


def _hint(theirs: str, ours: str) -> str:
    if "GELU" in theirs and "GELU" in ours:
        return (" [GELU variant: torch.nn.GELU() is exact by default, jax.nn.gelu/nnx.gelu "
                "approximate with tanh by default; use approximate=False]")
    if "flatten" in theirs and "flatten" in ours:
        return (" [flatten order: the port flattens in a different order than the weights were "
                "converted for; pass flatten='chw' or flatten channels-last]")
    if "pool" in theirs or "pool" in ours:
        return " [pooling differs]"
    return ""


def _weight_candidates(pair: LayerPair, w: np.ndarray, shape: tuple, flatten: str
                       ) -> dict[str, np.ndarray]:
    """Named wrong conversions of a PyTorch weight ``w`` to a port array of ``shape``."""
    out: dict[str, np.ndarray] = {}
    if pair.kind == "conv":
        out["kernel not transposed (PyTorch's O,I,H,W data reshaped to H,W,I,O)"] = w.reshape(-1)
        if w.ndim == 4:
            out["kernel transposed with in/out swapped (O,I,H,W → H,W,O,I)"] = \
                w.transpose(2, 3, 0, 1)
            out["kernel with H and W swapped (O,I,H,W → W,H,I,O)"] = w.transpose(3, 2, 1, 0)
            out["kernel flipped spatially (a convolution instead of PyTorch's correlation)"] = \
                conv_to_flax(w)[::-1, ::-1]
    elif pair.kind == "linear":
        out["weight not transposed (PyTorch's (out, in) data reshaped to (in, out))"] = \
            w.reshape(-1)
        if pair.chw is not None:
            kernel = w.T
            if flatten == "hwc":
                out["flatten order: rows left in PyTorch's C,H,W order (no H,W,C permutation)"] \
                    = kernel
            else:
                out["flatten order: rows permuted to H,W,C although the port flattens C,H,W"] = \
                    chw_rows_to_hwc(kernel, pair.chw)
    return {k: v.reshape(shape) for k, v in out.items() if v.size == math.prod(shape)}


def _rerun(module: nnx.Module, x: np.ndarray, replace: dict[str, np.ndarray]) -> np.ndarray:
    clone = nnx.clone(module)
    for attr, value in replace.items():
        variable = getattr(clone, attr)
        variable[...] = jnp.asarray(value, dtype=variable[...].dtype)
    return np.asarray(clone(jnp.asarray(x)))


def _torch_padding(t: torch.nn.Module, spatial: tuple) -> list[tuple[int, int]]:
    pad = t.padding
    if pad == "valid":
        return [(0, 0)] * len(spatial)
    if pad == "same":
        totals = [d * (k - 1) for d, k in zip(t.dilation, t.kernel_size, strict=True)]
        return [(total // 2, total - total // 2) for total in totals]
    return [(p, p) for p in pad]


def _same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _conv_explicit(f: nnx.Conv, t: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    kernel = jnp.asarray(f.kernel[...])
    nd = kernel.ndim - 2
    spatial = "DHW"[-nd:]
    dims = ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")
    y = jax.lax.conv_general_dilated(
        jnp.asarray(x, kernel.dtype), kernel, tuple(t.stride), _torch_padding(t, t.kernel_size),
        rhs_dilation=tuple(t.dilation), feature_group_count=t.groups, dimension_numbers=dims,
        precision=jax.lax.Precision.HIGHEST)
    if getattr(f, "bias", None) is not None:
        y = y + f.bias[...]
    return np.asarray(y)


def _port_padding(f: nnx.Conv, spatial_in: tuple, kernel: tuple, dilation: tuple
                  ) -> list[tuple[int, int]]:
    strides = f.strides if isinstance(f.strides, tuple | list) else (f.strides or 1,) * len(kernel)
    if isinstance(f.padding, str):
        if f.padding.upper() == "VALID":
            return [(0, 0)] * len(kernel)
        if f.padding.upper() == "SAME":
            return [_same_padding(n, k, s, d)
                    for n, k, s, d in zip(spatial_in, kernel, strides, dilation, strict=True)]
        return []
    if isinstance(f.padding, int):
        return [(f.padding, f.padding)] * len(kernel)
    return [tuple(p) if isinstance(p, tuple | list) else (p, p) for p in f.padding]


def _padding_diagnosis(pair: LayerPair, f: nnx.Conv, t: torch.nn.Module, f_in: np.ndarray,
                       t_out: np.ndarray, tol: float) -> str | None:
    theirs = _torch_padding(t, t.kernel_size)
    ours = _port_padding(f, f_in.shape[1:-1], t.kernel_size, t.dilation)
    if ours == theirs:
        return None
    explicit = _conv_explicit(f, t, f_in)
    if rel_diff(explicit, t_out) > tol:
        return None
    text = f"padding={f.padding!r}" + (f", which here pads (before, after) = {ours}"
                                       if isinstance(f.padding, str) else "")
    return (f"padding: the port's convolution uses {text}; PyTorch pads {theirs} "
            f"(before, after) per spatial axis; re-run with PyTorch's explicit padding, the "
            f"difference vanishes (max rel Δ {rel_diff(explicit, t_out):.1e}); "
            f"pass padding={tuple(theirs)}")


def _norm_epsilon_diagnosis(pair: LayerPair, f: nnx.Module, t: torch.nn.Module,
                            f_in: np.ndarray, t_out: np.ndarray, tol: float) -> str | None:
    eps_t = float(t.eps)
    eps_f = float(getattr(f, "epsilon", eps_t))
    if eps_t == eps_f:
        return None
    x = as_f64(f_in)
    params = {k: as_f64(v) for k, v in flax_params(f, pair.kind).items()}
    if pair.kind == "layernorm":
        axes = tuple(range(x.ndim - len(t.normalized_shape), x.ndim))
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    elif t.training:
        axes = tuple(range(x.ndim - 1))
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = params["running_mean"], params["running_var"]
    y = (x - mean) / np.sqrt(var + eps_t) * params.get("weight", 1.0) + params.get("bias", 0.0)
    if rel_diff(y, t_out) > tol:
        return None
    return (f"epsilon: the port normalises with ε = {eps_f:g}, PyTorch with ε = {eps_t:g}; with "
            f"PyTorch's ε the difference vanishes (max rel Δ {rel_diff(y, t_out):.1e})")


def _precision_diagnosis(t: torch.nn.Module, t_in: np.ndarray, f_out: np.ndarray,
                         t_out: np.ndarray, tol: float) -> str | None:
    for name, bits in MANTISSA_BITS.items():
        module = _copy_double(t, bits)
        with torch.no_grad():
            x = torch.from_numpy(as_f64(round_mantissa(t_in, bits)))
            ref = to_port_layout(module(x).numpy(), f_out.shape)
        if rel_diff(f_out, ref) <= tol < rel_diff(f_out, t_out):
            return (f"reduced precision ({name}): the port's output matches this layer computed "
                    f"with its inputs and weights rounded to {name}'s {bits}-bit mantissa (max "
                    f"rel Δ {rel_diff(f_out, ref):.1e}); on a GPU set "
                    f"jax.config.update('jax_default_matmul_precision', 'highest') (and "
                    f"torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32 to match), or "
                    f"compare with precision='{name}'")
    return None


def _copy_double(t: torch.nn.Module, bits: int) -> torch.nn.Module:
    module = copy.deepcopy(t).double()
    with torch.no_grad():  # the weight is a matmul input; the bias is added after
        module.weight.copy_(torch.from_numpy(as_f64(round_mantissa(torch_weight(t), bits))))
    return module


def inside_layer(pair: LayerPair, t_call: LayerCall, f_call: LayerCall, t_in: np.ndarray,
                 t_out: np.ndarray | None, expected: dict[str, np.ndarray], tol: float,
                 flatten: str) -> str:
    """Diagnosis when ``pair``'s inputs agree but its outputs do not.

    ``t_in``/``t_out``: PyTorch's input and output in the port's layout; ``expected``: the
    PyTorch layer's arrays converted to the port's layout, by PyTorch suffix.
    """
    f, t = f_call.module, t_call.module
    f_in, f_out = as_f64(f_call.input), as_f64(f_call.output)
    if t_out is None:
        text = f"output shape differs: port {f_out.shape}, PyTorch {t_call.output.shape}"
        if pair.kind == "conv":
            explicit = _conv_explicit(f, t, f_in)
            if to_port_layout(t_call.output, explicit.shape) is not None:
                return text + ("; with PyTorch's stride and explicit padding the shapes agree: "
                               f"padding or stride differ (port padding={f.padding!r})")
        return text
    ours = flax_params(f, pair.kind)
    wrong = {s: v for s, v in expected.items() if s in ours and s != "num_batches_tracked"
             and rel_diff(ours[s], v) > tol}
    if wrong:
        fixed = _rerun(f, f_call.input, {PARAM_NAMES[pair.kind][s]: v for s, v in wrong.items()})
        gap = rel_diff(to_port_layout(fixed, f_out.shape) if fixed.shape != f_out.shape
                       else fixed, t_out)
        w = torch_weight(t)
        names = [n for n, v in _weight_candidates(pair, w, ours["weight"].shape, flatten).items()
                 if "weight" in wrong and rel_diff(ours["weight"], v) <= tol]
        what = names[0] if names else "parameters " + ", ".join(
            f"{pair.torch_name}.{s}" for s in wrong) + " differ from PyTorch's"
        verdict = ("the difference vanishes" if gap <= tol
                   else "the difference remains, so this is not the only cause")
        return (f"{what}; re-run with PyTorch's weights converted correctly, {verdict} "
                f"(max rel Δ {gap:.1e})")
    for check in (_padding_diagnosis if pair.kind == "conv" else None,
                  _norm_epsilon_diagnosis if pair.kind in ("layernorm", "batchnorm") else None):
        if check is not None:
            found = check(pair, f, t, f_in, t_out, tol)
            if found:
                return found
    if pair.kind in ("conv", "linear"):
        found = _precision_diagnosis(t, as_f64(t_call.input), f_out, t_out, tol)
        if found:
            return found
    return (f"{pair.flax_name} gives a different output from the same input and weights, for "
            f"no cause the kit knows (kernel layout, padding, epsilon, reduced precision)")


def torch_weight(t: torch.nn.Module) -> np.ndarray:
    return t.weight.detach().float().numpy() if getattr(t, "weight", None) is not None \
        else np.zeros(0)


def batchnorm_update(pair: LayerPair, before: torch.nn.Module, port_in: np.ndarray,
                     after: dict[str, np.ndarray], tol: float) -> str:
    """Why a port's running statistics differ after one train-mode step: which update rule and
    which batch variance reproduce them from the port's own input to the layer (channels last)
    and the statistics before the step."""
    x = as_f64(port_in)
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean, biased = x.mean(axis=axes), x.var(axis=axes)
    variances = {"unbiased": biased * n / max(n - 1, 1), "biased": biased}
    m = before.momentum
    if m is None:
        return f"{pair.torch_name}: momentum=None (cumulative average) is not diagnosed"
    rules = {
        "(1−m)·old + m·batch, PyTorch's rule": lambda old, new: (1 - m) * old + m * new,
        f"m·old + (1−m)·batch with m = {m:g}: PyTorch's momentum taken literally as Flax's "
        f"(Flax's momentum is 1 − PyTorch's; use momentum={1 - m:g})":
            lambda old, new: m * old + (1 - m) * new,
    }
    old_mean = as_f64(before.running_mean.detach().float().numpy())
    old_var = as_f64(before.running_var.detach().float().numpy())
    for rule, update in rules.items():
        if rel_diff(after["running_mean"], update(old_mean, mean)) > tol:
            continue
        for kind, var in variances.items():
            if rel_diff(after["running_var"], update(old_var, var)) <= tol:
                if kind == "unbiased" and rule.endswith("PyTorch's rule"):
                    return (f"{pair.flax_name}: the port updates its statistics as PyTorch does, "
                            "from its own input: the difference comes from that input")
                var_text = ("" if kind == "unbiased" else
                            "; the running variance is updated with the biased batch variance "
                            f"(PyTorch uses the unbiased one, ×n/(n−1) with n = {n})")
                return f"{pair.flax_name}: the port updates its statistics as {rule}{var_text}"
        return (f"{pair.flax_name}: the running mean follows {rule}, the running variance "
                f"neither batch variance")
    return (f"{pair.flax_name}: the running mean follows neither (1−m)·old + m·batch nor "
            f"m·old + (1−m)·batch with m = {m:g}")
