"""Which port layer is which PyTorch layer: a name map, given or inferred by order and shape.

A name map sends each PyTorch ``state_dict`` prefix (``"features.0"``) to the dotted NNX path of
its port (``"convs.0"``). Inference walks both models' pairable layers in the order a forward pass
calls them and pairs them one for one when every kind and converted parameter shape agrees; when
the orders disagree, each layer is paired with the only port layer of its kind and shapes, and a
kind and shapes shared by several layers is refused as ambiguous (pass those names explicitly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from jaxcnn.parity.kit.capture import LayerCall
from jaxcnn.parity.kit.layers import PARAM_NAMES, flax_params, torch_params

Signature = tuple  # (kind, ((suffix, flax-layout shape), ...))


@dataclasses.dataclass(frozen=True)
class LayerPair:
    """A PyTorch layer and its port: names, kind, and the (C, H, W) of a flatten feeding it."""

    torch_name: str
    flax_name: str
    kind: str
    chw: tuple[int, int, int] | None = None


def _first_calls(calls: list[LayerCall]) -> dict[str, LayerCall]:
    first: dict[str, LayerCall] = {}
    for call in calls:
        first.setdefault(call.name, call)
    return first


def _shared_suffixes(kind: str) -> tuple[str, ...]:
    return tuple(s for s in PARAM_NAMES[kind] if s != "num_batches_tracked")


def torch_signature(call: LayerCall) -> Signature:
    params = torch_params(call.module, call.kind)
    shapes = []
    for suffix in _shared_suffixes(call.kind):
        if suffix in params:
            shape = params[suffix].shape
            if suffix == "weight" and call.kind == "conv":
                shape = (*shape[2:], shape[1], shape[0])
            elif suffix == "weight" and call.kind == "linear":
                shape = shape[::-1]
            shapes.append((suffix, tuple(shape)))
    return call.kind, tuple(shapes)


def flax_signature(call: LayerCall) -> Signature:
    params = flax_params(call.module, call.kind)
    return call.kind, tuple((s, tuple(params[s].shape)) for s in _shared_suffixes(call.kind)
                            if s in params)


def _describe(sig: Signature) -> str:
    kind, shapes = sig
    return f"{kind} " + ", ".join(f"{s} {shape}" for s, shape in shapes)


def infer_name_map(torch_calls: list[LayerCall], flax_calls: list[LayerCall],
                   given: Mapping[str, str] | None = None) -> dict[str, str]:
    """The name map (PyTorch prefix -> NNX path), ``given`` entries kept, the rest inferred.

    Raises ``ValueError`` naming the layers when a given name is unknown or mismatched, when a
    layer has no counterpart, or when the pairing is ambiguous.
    """
    t_first, f_first = _first_calls(torch_calls), _first_calls(flax_calls)
    given = dict(given or {})
    for t_name, f_name in given.items():
        if t_name not in t_first:
            raise ValueError(f"name_map: {t_name!r} is not a pairable PyTorch layer called by the "
                             f"forward pass (known: {', '.join(t_first)})")
        if f_name not in f_first:
            raise ValueError(f"name_map: {f_name!r} is not a pairable NNX layer called by the "
                             f"forward pass (known: {', '.join(f_first)})")
        t_sig, f_sig = torch_signature(t_first[t_name]), flax_signature(f_first[f_name])
        if t_sig != f_sig:
            raise ValueError(f"name_map: {t_name!r} is {_describe(t_sig)} but {f_name!r} is "
                             f"{_describe(f_sig)}")
    t_rest = [n for n in t_first if n not in given]
    f_rest = [n for n in f_first if n not in given.values()]
    t_sigs = {n: torch_signature(t_first[n]) for n in t_rest}
    f_sigs = {n: flax_signature(f_first[n]) for n in f_rest}
    if len(t_rest) == len(f_rest) and all(
            t_sigs[a] == f_sigs[b] for a, b in zip(t_rest, f_rest, strict=True)):
        return {**given, **dict(zip(t_rest, f_rest, strict=True))}
    inferred: dict[str, str] = {}
    problems = []
    for t_name in t_rest:
        candidates = [f for f in f_rest if f_sigs[f] == t_sigs[t_name]]
        if len(candidates) == 1:
            inferred[t_name] = candidates[0]
        elif not candidates:
            problems.append(f"PyTorch layer {t_name!r} ({_describe(t_sigs[t_name])}) has no port "
                            "layer of that kind and shape")
        else:
            problems.append(f"PyTorch layer {t_name!r} ({_describe(t_sigs[t_name])}) could be any "
                            f"of {candidates} and the call orders differ")
    unpaired = [f for f in f_rest if f not in inferred.values()]
    if unpaired and not problems:
        problems.append(f"port layers {unpaired} have no PyTorch counterpart")
    if problems:
        raise ValueError("cannot infer the name map: " + "; ".join(problems)
                         + ". Pass name_map={pytorch_prefix: nnx_path, ...} for these layers.")
    return {**given, **inferred}


def layer_pairs(torch_calls: list[LayerCall], flax_calls: list[LayerCall],
                name_map: Mapping[str, str]) -> list[LayerPair]:
    """The pairs of ``name_map`` in PyTorch's call order, each with its flatten (C, H, W)."""
    t_first = _first_calls(torch_calls)
    return [LayerPair(t, name_map[t], t_first[t].kind, t_first[t].chw)
            for t in t_first if t in name_map]
