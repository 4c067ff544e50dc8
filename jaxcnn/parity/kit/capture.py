"""Run a model once and record, in call order, the inputs and outputs of its pairable layers.

PyTorch: forward hooks on every module whose kind :mod:`.layers` knows, and a
``TorchFunctionMode`` that notes each flatten of a 4-D (N, C, H, W) tensor to 2-D, so that the
linear layer fed by it is known together with its ``(C, H, W)``.

Flax NNX: the ``__call__`` of each pairable layer's class is wrapped for the duration of the run
(the model runs eagerly, so the values are concrete). jaxcnn's own models run under the NHWC
reference convolution plan while captured (their default plan may keep feature maps in another
layout between layers).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import jax
import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxcnn.conv.choice import forcing
from jaxcnn.conv.plans import REFERENCE
from jaxcnn.parity.kit.layers import flax_kind, torch_kind


@dataclasses.dataclass
class LayerCall:
    """One call of a pairable layer: its name (``state_dict`` prefix or NNX path), kind,
    the module, its first input and its output (numpy), and for a linear layer fed by a
    flatten of (C, H, W) feature maps, that ``chw``."""

    name: str
    kind: str
    module: object
    input: np.ndarray
    output: np.ndarray
    chw: tuple[int, int, int] | None = None


def torch_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Pairable sub-modules of a PyTorch model by ``state_dict`` prefix, in registration order."""
    return {name: m for name, m in model.named_modules() if torch_kind(m) is not None}


def flax_layers(model: nnx.Module) -> dict[str, nnx.Module]:
    """Pairable sub-modules of an NNX model by dotted path."""
    return {".".join(map(str, path)): m for path, m in nnx.iter_graph(model)
            if isinstance(m, nnx.Module) and flax_kind(m) is not None}


class _Flattens(torch.overrides.TorchFunctionMode):
    """Notes (number of layer calls so far, (C, H, W)) for every 4-D -> 2-D reshape."""

    def __init__(self, calls: list):
        super().__init__()
        self.calls = calls
        self.events: list[tuple[int, tuple[int, int, int]]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        if name in ("flatten", "view", "reshape") and args and isinstance(args[0], torch.Tensor):
            src = args[0]
            if src.ndim == 4 and isinstance(out, torch.Tensor) and out.ndim == 2:
                self.events.append((len(self.calls), tuple(src.shape[1:])))
        return out


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy() if t.dtype in (torch.bfloat16, torch.float16) \
        else t.detach().cpu().numpy()


def capture_torch(model: nn.Module, x: torch.Tensor) -> tuple[list[LayerCall], np.ndarray]:
    """Every pairable layer call of ``model(x)`` (no autograd), and the model's output."""
    calls: list[LayerCall] = []
    names = {id(m): n for n, m in torch_layers(model).items()}

    def hook(module, inputs, output):
        calls.append(LayerCall(names[id(module)], torch_kind(module), module,
                               _numpy(inputs[0]), _numpy(output)))

    handles = [m.register_forward_hook(hook) for m in torch_layers(model).values()]
    try:
        with torch.no_grad(), _Flattens(calls) as flattens:
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    _attach_flattens(calls, flattens.events)
    return calls, _numpy(out)


def _attach_flattens(calls: list[LayerCall], events: list[tuple[int, tuple]]) -> None:
    """Give each flatten's (C, H, W) to the next linear call whose input is C*H*W wide."""
    for position, chw in events:
        for call in calls[position:]:
            if call.kind == "linear":
                if call.input.ndim == 2 and call.input.shape[1] == int(np.prod(chw)):
                    call.chw = chw
                break


@contextlib.contextmanager
def _wrapped_calls(model: nnx.Module, calls: list[LayerCall]) -> Iterator[None]:
    names = {id(m): n for n, m in flax_layers(model).items()}
    classes = {type(m) for m in flax_layers(model).values()}
    saved = {cls: cls.__dict__.get("__call__") for cls in classes}

    inside: set[int] = set()  # a subclass's __call__ calling its parent's records once

    def wrap(original):
        def __call__(self, *args, **kwargs):
            if id(self) in inside or id(self) not in names or not args:
                return original(self, *args, **kwargs)
            inside.add(id(self))
            try:
                out = original(self, *args, **kwargs)
            finally:
                inside.discard(id(self))
            calls.append(LayerCall(names[id(self)], flax_kind(self), self,
                                   np.asarray(args[0]), np.asarray(out)))
            return out
        return __call__

    try:
        for cls in classes:
            cls.__call__ = wrap(cls.__call__)
        yield
    finally:
        for cls, original in saved.items():
            if original is None:
                del cls.__call__
            else:
                cls.__call__ = original


def capture_flax(model: nnx.Module, x: jax.Array) -> tuple[list[LayerCall], np.ndarray]:
    """Every pairable layer call of ``model(x)``, run eagerly, and the model's output."""
    calls: list[LayerCall] = []
    with _wrapped_calls(model, calls), forcing(REFERENCE):
        out = model(x)
    return calls, np.asarray(out)
